"""Quality control: registration flags with their reasons, and figures of label maps and masks.

A subject's atlas registration is flagged, with the measure named, when

- the atlas brain carried over overlaps the subject's own brain mask poorly
  (``brain_dice`` below ``min_brain_dice``; good fits of real scans: 0.94-0.96);
- on a T1w fit, the atlas T1 does not correlate with the subject inside the brain
  (``correlation`` below ``min_correlation``): good fits 0.22-0.58 on real scans (lower
  with atrophy), fits 70 mm off 0.01; a brain is nearly symmetric, so a fit turned the
  wrong way round can still overlap it well, but its intensities do not match;
- its intracranial volume (the brain mask's volume) is implausible for an adult
  (outside ``icv_ml``, 900-2,200 mL by default: a mask that kept skull or lost a lobe);
- a region's volume, as a share of the ICV, is far from the atlas's
  (``region_volume_ratio``; the smallest and largest ratio of each subject are kept):
  on 20 real subjects 0.14-0.85 and 1.43-2.03, the smallest in the corpus callosum and
  fornix of atrophied brains with large ventricles, so only a region that all but
  vanishes (< 0.1) or swells past 4 x is flagged;
- the T1w does not lie on the FLAIR it was rigidly registered to (``t1w_flair_dice``
  below ``min_t1w_flair_dice``, 0.95 by default; :func:`wmhmap.atlas.coregistration_overlap`):
  the atlas regions reach the FLAIR grid through that fit, and the lesion model reads
  the T1w there. Real fits 0.977-0.986; 5 mm off 0.93-0.94, 10 degrees off 0.93-0.95;
- the T1w and its FLAIR do not show the same ventricles and sulci where that fit puts
  them (``t1w_flair_csf_dice`` below ``min_t1w_flair_csf_dice``, 0.55 by default;
  :func:`wmhmap.atlas.csf_overlap`): another person's T1w (a swapped file) fits the
  FLAIR's brain outline nearly as well as the person's own (0.86-0.95), but not its CSF.
  Real fits 0.72-0.82; another person's T1w 0.19-0.44; 2 mm off 0.43-0.53;
- a scan lacks the contrast of its column (``t1w_wm_gm_ratio`` below
  ``min_t1w_wm_gm_ratio``, ``flair_wm_gm_ratio`` above ``max_flair_wm_gm_ratio``, 1.1
  both; :func:`wmhmap.atlas.white_grey_ratio`): the atlas's deep white matter over its
  grey matter, on each scan. On a T1w white matter is the brightest tissue (real T1w of
  five scanners 1.18-1.66), on a FLAIR grey matter is brighter (real FLAIRs 0.84-1.04):
  a FLAIR given as the T1w, or the two swapped, passes the CSF check (one head);
- a scan's CSF is bright (``t1w_bright_wm_ratio`` or ``flair_bright_wm_ratio`` above
  ``max_bright_wm_ratio``, 1.6; :func:`wmhmap.atlas.bright_white_ratio`): the brightest
  5 % of the brain over the atlas's deep white matter. CSF is dark on a T1w and on a
  FLAIR (real FLAIRs 1.18-1.38, T1w 1.03-1.25); on a T2w it is the brightest tissue
  (2-5 x white matter; phantoms 1.83-2.41). A T2w given as the FLAIR has a FLAIR's
  darker white matter and passes the contrast check above; here it does not;
- the brain mask reaches the edge of a scan's field of view over more than
  ``max_fov_edge_mm2`` (1,000 mm² by default) in its outermost slice
  (:func:`brain_at_fov_edge`): the brain goes on beyond the scan, so the ICV, the brain
  volumes and the loads miss that part, and the atlas fit rests on the rest. On real
  scans the medulla alone crosses the lower edge over 59-650 mm² (Utrecht and Singapore
  slabs of the WMH challenge); a vertex or cerebellum cut off crosses it over
  1,500-3,500 mm² (a challenge subject, two clinical T1w and a FLAIR of the Lesjak scans).

In a cohort with sessions, a later visit whose CSF does not meet its first visit's is
flagged too (``visit_csf_dice``; :mod:`wmhmap.visits`).

The measures are written by the propagation job (and the visits' by ``compare_visits``);
thresholds are applied when the cohort table is gathered, so changing one reruns only
that table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from wmhmap.geometry import reorient_to_ras, voxel_sizes


@dataclass(frozen=True)
class QcThresholds:
    """Where a registration is flagged (config ``qc``)."""

    min_brain_dice: float = 0.90
    min_correlation: float = 0.1
    icv_ml: tuple[float, float] = (900.0, 2200.0)
    region_volume_ratio: tuple[float, float] = (0.1, 4.0)
    max_fov_edge_mm2: float = 1000.0
    wm_share: tuple[float, float] = (0.2, 0.6)
    min_t1w_flair_dice: float = 0.95
    min_t1w_flair_csf_dice: float = 0.55
    min_t1w_wm_gm_ratio: float = 1.1
    max_flair_wm_gm_ratio: float = 1.1
    max_bright_wm_ratio: float = 1.6

    @classmethod
    def from_config(cls, qc: Mapping[str, Any]) -> QcThresholds:
        low, high = (float(v) for v in qc["icv_ml"])
        ratio_low, ratio_high = (float(v) for v in qc["region_volume_ratio"])
        share_low, share_high = (float(v) for v in qc["wm_share"])
        return cls(
            float(qc["min_brain_dice"]),
            float(qc["min_correlation"]),
            (low, high),
            (ratio_low, ratio_high),
            float(qc["max_fov_edge_mm2"]),
            (share_low, share_high),
            float(qc["min_t1w_flair_dice"]),
            float(qc["min_t1w_flair_csf_dice"]),
            float(qc["min_t1w_wm_gm_ratio"]),
            float(qc["max_flair_wm_gm_ratio"]),
            float(qc["max_bright_wm_ratio"]),
        )


@dataclass(frozen=True)
class Flag:
    """One reason to look at a subject's registration."""

    measure: str
    value: float
    reason: str


def finite_value(value: Any) -> float | None:
    """A measure's value, or ``None`` when it is missing or n/a (NaN)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def registration_flags(
    quality: Mapping[str, Any], thresholds: QcThresholds, *, subject: str = ""
) -> list[Flag]:
    """The reasons to inspect a registration (empty when it looks right).

    ``quality`` holds ``brain_dice`` and ``icv_ml``, and optionally the smallest and
    largest region-volume ratios (``region_ratio_min``/``_max`` with the regions in
    ``region_min``/``region_max``), the brain at the field of view's edge
    (``fov_edge_mm2``, and where: ``fov_edge``; :func:`brain_at_fov_edge`) and the T1w's
    tissue volumes (``tissue_<class>_ml``; :func:`white_matter_share`) and the overlap of
    its T1w with its FLAIR (``t1w_flair_dice``, and of their CSF: ``t1w_flair_csf_dice``)
    and each scan's contrast (``t1w_wm_gm_ratio``, ``flair_wm_gm_ratio``,
    ``t1w_bright_wm_ratio``, ``flair_bright_wm_ratio``).

    >>> flags = registration_flags({"brain_dice": 0.7, "icv_ml": 2600.0}, QcThresholds())
    >>> [f.reason for f in flags]  # doctest: +NORMALIZE_WHITESPACE
    ['atlas fit: brain overlap 0.70 < 0.90',
     'ICV 2600 mL outside 900-2200 mL (brain mask kept skull or lost brain?)']
    """
    t = thresholds
    flags = []
    dice = float(quality["brain_dice"])
    if not dice >= t.min_brain_dice:
        flags.append(
            Flag(
                "brain_dice", dice, f"atlas fit: brain overlap {dice:.2f} < {t.min_brain_dice:.2f}"
            )
        )
    correlation = quality.get("correlation")
    if correlation is not None and math.isfinite(correlation) and correlation < t.min_correlation:
        flags.append(
            Flag(
                "correlation",
                float(correlation),
                f"atlas fit: T1w correlation {correlation:.2f} < {t.min_correlation:.2f}",
            )
        )
    icv = float(quality["icv_ml"])
    low, high = t.icv_ml
    if not low <= icv <= high:
        flags.append(
            Flag(
                "icv_ml",
                icv,
                f"ICV {icv:.0f} mL outside {low:.0f}-{high:.0f} mL "
                "(brain mask kept skull or lost brain?)",
            )
        )
    ratio_low, ratio_high = t.region_volume_ratio
    for key, bound, beyond in (("min", ratio_low, "<"), ("max", ratio_high, ">")):
        ratio = quality.get(f"region_ratio_{key}")
        if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
            continue
        outside = ratio < bound if key == "min" else ratio > bound
        if outside:
            flags.append(
                Flag(
                    f"region_ratio_{key}",
                    float(ratio),
                    f"region {quality.get(f'region_{key}')} volume {ratio:.2f} x the atlas's "
                    f"(share of ICV) {beyond} {bound:g}",
                )
            )
    edge = quality.get("fov_edge_mm2")
    if edge is not None and math.isfinite(float(edge)) and float(edge) > t.max_fov_edge_mm2:
        flags.append(
            Flag(
                "fov_edge_mm2",
                float(edge),
                f"brain cut by the field of view: {float(edge):.0f} mm² of brain on the "
                f"{quality.get('fov_edge') or 'edge'} > {t.max_fov_edge_mm2:.0f} mm² (the "
                "ICV, volumes and loads miss what lies beyond)",
            )
        )
    coregistration = quality.get("t1w_flair_dice")
    if (
        coregistration is not None
        and math.isfinite(float(coregistration))
        and float(coregistration) < t.min_t1w_flair_dice
    ):
        flags.append(
            Flag(
                "t1w_flair_dice",
                float(coregistration),
                f"T1w -> FLAIR registration: brain overlap {float(coregistration):.3f} < "
                f"{t.min_t1w_flair_dice:.3f} (the T1w and the atlas regions carried through "
                "it are misplaced on the FLAIR grid)",
            )
        )
    bright = {
        column: finite_value(quality.get(f"{column.lower()}_bright_wm_ratio"))
        for column in ("T1w", "FLAIR")
    }
    csf_bright = {c: v for c, v in bright.items() if v is not None and v > t.max_bright_wm_ratio}
    csf = quality.get("t1w_flair_csf_dice")
    if csf is not None and math.isfinite(float(csf)) and float(csf) < t.min_t1w_flair_csf_dice:
        why = (
            f"the {' and the '.join(csf_bright)}'s CSF is bright, so its darkest voxels are "
            "not CSF: see its contrast"
            if csf_bright
            else "the T1w is another person's, or misplaced on the FLAIR grid"
        )
        flags.append(
            Flag(
                "t1w_flair_csf_dice",
                float(csf),
                f"T1w -> FLAIR registration: CSF overlap {float(csf):.2f} < "
                f"{t.min_t1w_flair_csf_dice:.2f} (ventricles and sulci do not meet: {why})",
            )
        )
    t1w = finite_value(quality.get("t1w_wm_gm_ratio"))
    if t1w is not None and t1w < t.min_t1w_wm_gm_ratio:
        flags.append(
            Flag(
                "t1w_wm_gm_ratio",
                t1w,
                f"T1w contrast: white matter {t1w:.2f} x as bright as grey matter < "
                f"{t.min_t1w_wm_gm_ratio:.2f} (on a T1w it is the brightest tissue: is this "
                "a FLAIR or T2w given as the T1w?)",
            )
        )
    flair = finite_value(quality.get("flair_wm_gm_ratio"))
    if flair is not None and flair > t.max_flair_wm_gm_ratio:
        flags.append(
            Flag(
                "flair_wm_gm_ratio",
                flair,
                f"FLAIR contrast: white matter {flair:.2f} x as bright as grey matter > "
                f"{t.max_flair_wm_gm_ratio:.2f} (on a FLAIR grey matter is brighter: is this "
                "a T1w given as the FLAIR?)",
            )
        )
    for column, value in csf_bright.items():
        flags.append(
            Flag(
                f"{column.lower()}_bright_wm_ratio",
                value,
                f"{column} contrast: the brightest voxels of its brain {value:.2f} x as bright "
                f"as its white matter > {t.max_bright_wm_ratio:.2f} "
                f"(CSF is dark on a {column}: is this a T2w given as the {column}?)",
            )
        )
    share = white_matter_share(quality)
    share_low, share_high = t.wm_share
    if math.isfinite(share) and not share_low <= share <= share_high:
        flags.append(
            Flag(
                "wm_share",
                share,
                f"tissue classes: white matter {100 * share:.0f} % of the T1w's brain, outside "
                f"{100 * share_low:.0f}-{100 * share_high:.0f} % (the brain volumes and the "
                "white-matter region map are suspect)",
            )
        )
    return flags


def white_matter_share(quality: Mapping[str, Any]) -> float:
    """The T1w's white matter as a share of its brain mask, from the tissue classes of a
    QC row (``tissue_csf_ml``, ``tissue_gm_ml``, ``tissue_wm_ml``); NaN without them.

    >>> white_matter_share({"tissue_csf_ml": 300, "tissue_gm_ml": 600, "tissue_wm_ml": 500})
    0.35714285714285715
    >>> white_matter_share({"tissue_wm_ml": float("nan")})
    nan
    """
    values = [float(quality.get(f"tissue_{name}_ml", math.nan)) for name in ("csf", "gm", "wm")]
    if not all(math.isfinite(v) for v in values) or sum(values) <= 0:
        return math.nan
    return values[2] / sum(values)


FACES = {
    "R": "right",
    "L": "left",
    "A": "anterior",
    "P": "posterior",
    "S": "superior",
    "I": "inferior",
}
"""The sides of the head by nibabel's axis codes."""
_OPPOSITE = dict(zip("RLAPSI", "LRPAIS", strict=True))


def brain_at_fov_edge(brain_mask: nib.Nifti1Image) -> tuple[float, str]:
    """Where a brain mask meets its grid's edge: the largest area (mm²) it covers in an
    outermost slice, and the side of the head (``"superior"``, ...; ``""`` when the mask
    stays inside).

    A brain mask that reaches the edge of the field of view goes on beyond it: the scan
    cut off part of the brain. The sides are anatomical, whatever the voxel order.

    >>> mask = np.zeros((10, 10, 5), np.uint8)
    >>> mask[2:6, 3:6, 2:] = 1  # 4 x 3 voxels in the last slice along the third axis
    >>> brain_at_fov_edge(nib.Nifti1Image(mask, np.diag([2.0, 2.0, 3.0, 1.0])))
    (48.0, 'superior')
    >>> brain_at_fov_edge(nib.Nifti1Image(mask, np.diag([2.0, 2.0, -3.0, 1.0])))
    (48.0, 'inferior')
    """
    mask = np.asarray(brain_mask.dataobj) > 0
    zooms = voxel_sizes(brain_mask)
    codes = nib.aff2axcodes(brain_mask.affine)
    largest, side = 0.0, ""
    for axis in range(3):
        in_plane = float(np.prod([zooms[d] for d in range(3) if d != axis]))
        # the index grows towards codes[axis]: the last slice faces it, the first away
        for index, code in ((0, _OPPOSITE[codes[axis]]), (-1, codes[axis])):
            area = float(np.take(mask, index, axis=axis).sum()) * in_plane
            if area > largest:
                largest, side = area, FACES[code]
    return largest, side


def fov_edge(brain_masks: Mapping[str, nib.Nifti1Image]) -> dict[str, Any]:
    """The QC measures ``fov_edge_mm2`` and ``fov_edge`` of a subject: the largest
    :func:`brain_at_fov_edge` over the brain masks of its scans (by scan name), and where
    (``""`` when no mask meets an edge).

    >>> mask = np.zeros((10, 10, 5), np.uint8)
    >>> mask[2:6, 3:6, 2:] = 1
    >>> inside = np.zeros((10, 10, 5), np.uint8)
    >>> inside[2:6, 3:6, 1:4] = 1
    >>> fov_edge({"FLAIR": nib.Nifti1Image(inside, np.eye(4)),
    ...           "T1w": nib.Nifti1Image(mask, np.eye(4))})
    {'fov_edge_mm2': 12.0, 'fov_edge': 'superior edge of the T1w'}
    >>> fov_edge({"FLAIR": nib.Nifti1Image(inside, np.eye(4))})
    {'fov_edge_mm2': 0.0, 'fov_edge': ''}
    """
    largest, where = 0.0, ""
    for scan, mask in brain_masks.items():
        area, side = brain_at_fov_edge(mask)
        if area > largest:
            largest, where = area, f"{side} edge of the {scan}"
    return {"fov_edge_mm2": largest, "fov_edge": where}


def region_volume_ratios(
    labels: npt.NDArray[np.integer[Any]],
    icv_voxels: float,
    atlas_labels: npt.NDArray[np.integer[Any]],
    atlas_icv_voxels: float,
    region_ids: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Each region's share of the ICV in a subject, over its share in the atlas.

    Both shares are voxel counts over the ICV in voxels of the same image, so voxel
    sizes cancel. An affine fit scales every whole parcel alike, so compare white-matter
    region maps (the atlas's labels on its own white matter): a ratio near 0 or far
    above 1 is a tissue segmentation or fit gone wrong. A region missing from the
    subject gives 0; one missing from the atlas NaN.

    >>> region_volume_ratios(np.array([1, 1, 2, 0]), 4, np.array([1, 2, 2, 0]), 4,
    ...                      np.array([1, 2])).tolist()
    [2.0, 0.5]
    """
    width = int(max(region_ids.max(), labels.max(), atlas_labels.max())) + 1
    subject = np.bincount(labels.ravel(), minlength=width)[region_ids] / icv_voxels
    atlas = np.bincount(atlas_labels.ravel(), minlength=width)[region_ids] / atlas_icv_voxels
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(atlas > 0, subject / atlas, np.nan), dtype=np.float64)


def region_volume_extremes(
    labels: nib.Nifti1Image,
    brain: nib.Nifti1Image,
    atlas: Any,
    region_ids: npt.NDArray[np.int64],
    *,
    white_matter_map: bool,
) -> dict[str, Any]:
    """The smallest and largest :func:`region_volume_ratios` of a subject's region map
    and their regions (``region_ratio_min``, ``region_min``, ``region_ratio_max``,
    ``region_max``), against the atlas's labels (on its white matter when
    ``white_matter_map``; ``atlas`` is a :class:`wmhmap.atlas.Atlas`)."""
    atlas_labels = np.asarray(atlas.labels.dataobj).astype(np.int64)
    if white_matter_map:
        atlas_labels = np.where(np.asarray(atlas.white_matter.dataobj) > 0, atlas_labels, 0)
    ratios = region_volume_ratios(
        np.asarray(labels.dataobj).astype(np.int64),
        float((np.asarray(brain.dataobj) > 0).sum()),
        atlas_labels,
        float((np.asarray(atlas.brain_mask.dataobj) > 0).sum()),
        region_ids,
    )
    low, high = int(np.nanargmin(ratios)), int(np.nanargmax(ratios))
    return {
        "region_ratio_min": round(float(ratios[low]), 3),
        "region_min": int(region_ids[low]),
        "region_ratio_max": round(float(ratios[high]), 3),
        "region_max": int(region_ids[high]),
    }


def _label_colours(n: int) -> ListedColormap:
    from matplotlib import colormaps

    base = colormaps["tab20"].colors + colormaps["tab20b"].colors  # type: ignore[attr-defined]
    return ListedColormap([base[i % len(base)] for i in range(n)])


def _slices(mask: npt.NDArray[np.bool_], axis: int, n: int) -> list[int]:
    idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
    if idx.size == 0:
        return [mask.shape[axis] // 2] * n
    return [int(v) for v in np.linspace(idx[0], idx[-1], n + 2)[1:-1].round()]


def display_max(
    data: npt.NDArray[np.floating[Any]], brain: npt.NDArray[np.bool_] | None = None
) -> float:
    """The grey level shown as white: the 99.5th percentile inside the brain (when given),
    else of the non-zero voxels. A clinical scan's scalp, fat or neck can outshine the
    brain several times; scaled to them, the brain turns dark or, on a scan stored as
    0-334 with a few bright outliers, to a flat silhouette.

    >>> data = np.r_[np.linspace(0, 300, 1000), np.full(200, 900.0)]
    >>> round(display_max(data, data < 400)), round(display_max(data))
    (298, 900)
    """
    inside = brain if brain is not None and brain.any() else data > 0
    return float(np.percentile(data[inside], 99.5)) if inside.any() else 1.0


def label_overlay_figure(
    image: nib.Nifti1Image,
    labels: nib.Nifti1Image,
    outline: nib.Nifti1Image | None = None,
    title: str = "",
    n_axial: int = 4,
) -> Figure:
    """Axial, coronal and sagittal slices of ``image`` with ``labels`` in colour.

    ``outline`` (e.g. the brain mask) is drawn as a red contour. All three images must
    share a grid; they are shown in RAS orientation (left of the brain on the left of
    the panel, radiological readers beware), with true voxel aspect ratios.
    """
    img = reorient_to_ras(image)
    lab = np.asarray(reorient_to_ras(labels).dataobj).astype(np.int32)
    data = np.asarray(img.dataobj, dtype=np.float32)
    line = None if outline is None else np.asarray(reorient_to_ras(outline).dataobj) > 0
    vmax = display_max(data, line)
    sx, sy, sz = voxel_sizes(img)
    cmap = _label_colours(max(int(lab.max()), 1))
    fig = Figure(figsize=(3.0 * (n_axial + 2), 3.4))
    axes = fig.subplots(1, n_axial + 2)
    present = lab > 0
    views = [(2, k) for k in _slices(present, 2, n_axial)]
    views += [
        (1, _slices(present, 1, 1)[0]),
        (0, _slices(present, 0, 1)[0] if present.any() else lab.shape[0] // 2),
    ]

    def cut(volume: npt.NDArray[np.generic], axis: int, k: int) -> npt.NDArray[np.generic]:
        return np.take(volume, k, axis=axis).T

    for ax, (axis, k) in zip(axes, views, strict=True):
        aspect = {2: sy / sx, 1: sz / sx, 0: sz / sy}[axis]
        ax.imshow(cut(data, axis, k), cmap="gray", vmin=0, vmax=vmax, origin="lower", aspect=aspect)
        ax.imshow(
            np.ma.masked_equal(cut(lab, axis, k), 0),
            cmap=cmap,
            alpha=0.45,
            origin="lower",
            aspect=aspect,
            interpolation="nearest",
            vmin=1,
            vmax=max(int(lab.max()), 1),
        )
        if line is not None and cut(line, axis, k).any():
            ax.contour(cut(line, axis, k).astype(float), levels=[0.5], colors="red", linewidths=0.6)
        ax.set_title(f"{'xyz'[axis]} = {k}", fontsize=8)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
