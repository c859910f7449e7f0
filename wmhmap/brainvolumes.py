"""Brain-structure volumes of one subject: CSF, grey and white matter, hippocampus, ICV.

These are the ``brain`` features of the classification stage. They are measured on the
subject's bias-corrected T1w on its own grid (thick-slice FLAIR grids blur tissue):

- **intracranial volume (ICV)**: the volume of the T1w's brain mask (deepbet: brain
  tissue and the CSF around it, :mod:`wmhmap.brainmask`);
- **CSF, GM, WM**: a three-class ANTs Atropos segmentation (k-means started from the
  intensity of the atlas's deep white matter, an MRF prior of 0.1) inside that mask;
  a volume is the sum of its class's posterior
  probabilities times the voxel volume, so partial-volume voxels count by their share.
  The workflow segments each T1w once, in the atlas propagation (whose white-matter
  region map is cut from the same classes), and measures these volumes from there.
  Classes are named by mean T1w intensity (CSF < GM < WM). White-matter lesions, dark on
  T1w, partly land in GM, as they do in most T1-only pipelines; given the subject's
  lesion mask, they are filled with white-matter intensity and the filled T1w is
  segmented anew (:func:`fill_lesions`; the workflow's ``stats.fill_lesions``);
- **hippocampus**: the atlas hippocampus carried over by the affine transform, then
  refined by a deformable ANTs SyN registration of a box around both hippocampi (an
  affine transform cannot follow atrophy). Registration-based volumetry of this kind
  is an approximation of a dedicated segmentation (FreeSurfer, FSL FIRST); on the demo,
  whose hippocampi shrink with diagnosis, it is within about 10 % of the truth. With an
  atlas without a hippocampus the column is NaN.

Tissue volumes are shares of the ICV (posteriors normalised to sum to one in the mask).
On the demo's 2 mm T1w Atropos puts partial-volume voxels at the cortex-CSF border into
CSF: CSF comes out about twice the truth and GM about 0.75 of it, the same bias for
every subject, so group comparisons hold; absolute tissue volumes need a dedicated tool.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from wmhmap.antspy import load_ants, private_tempdir
from wmhmap.errors import InputError
from wmhmap.geometry import to_ants, voxel_sizes
from wmhmap.imageio import like, voxel_volume_mm3
from wmhmap.preprocess import LinearTransform, apply_linear
from wmhmap.zones import brain_box

TISSUES = ("csf", "gm", "wm")
COLUMNS = ("hippocampus_mm3", "csf_mm3", "gm_mm3", "wm_mm3", "icv_mm3", "filled_lesion_mm3")


@dataclass(frozen=True)
class BrainVolumes:
    """Volumes in mm^3 (``hippocampus_mm3`` is NaN without an atlas hippocampus)."""

    hippocampus_mm3: float
    csf_mm3: float
    gm_mm3: float
    wm_mm3: float
    icv_mm3: float
    filled_lesion_mm3: float = 0.0
    """Lesion volume filled with white matter before the tissue classes (in the brain)."""

    def as_row(self) -> dict[str, float]:
        return asdict(self)


ATROPOS_MARGIN = 1
"""Voxels of image kept round the brain's bounding box for Atropos. Atropos reads only
the voxels inside its mask (its MRF neighbours too), so no frame at all gives the same
posteriors; one voxel keeps the mask off the image's edge."""


@dataclass(frozen=True)
class Tissues:
    """Atropos posteriors (arrays on the T1w grid, zero outside the brain) and class means."""

    posteriors: dict[str, npt.NDArray[np.float32]]
    means: dict[str, float]


WM_CORE_MM = 3.0
"""Depth inside the atlas white matter (carried onto the T1w) of the voxels whose median
T1w intensity starts Atropos's white-matter class (:func:`segment_tissues`)."""

MIN_CORE_VOXELS = 100
"""Fewer white-matter core voxels than this in the brain: Atropos starts as without them."""


def atlas_white_matter_core(
    atlas_white_matter: npt.ArrayLike, t1: nib.Nifti1Image, depth_mm: float = WM_CORE_MM
) -> npt.NDArray[np.bool_]:
    """The voxels deeper than ``depth_mm`` inside the atlas white matter on ``t1``'s grid.

    >>> import nibabel as nib
    >>> wm = np.zeros((9, 1, 1), bool); wm[1:8] = True
    >>> img = nib.Nifti1Image(np.zeros((9, 1, 1), np.float32), np.diag([2.0, 1, 1, 1]))
    >>> np.flatnonzero(atlas_white_matter_core(wm, img, depth_mm=4.0)).tolist()
    [3, 4, 5]
    """
    wm = np.asarray(atlas_white_matter, dtype=bool)
    depth = ndi.distance_transform_edt(wm, sampling=voxel_sizes(t1))
    return np.asarray(depth > depth_mm)


def kmeans_start(
    data: npt.NDArray[np.float32], inside: npt.NDArray[np.bool_], core: npt.ArrayLike | None
) -> str:
    """Atropos's initialisation: k-means from anatomical class centres, or ITK's own.

    With the atlas's white-matter core (voxels that are white matter whatever the
    subject), the k-means starts from CSF at the brain's 5th intensity percentile, WM at
    the core's median and GM halfway between. Without it (or with too small a core, or a
    core no brighter than the CSF start) Atropos starts from Otsu thresholds of the
    histogram, which split the white matter in two and merge CSF with GM when white
    matter fills most of the brain (real subject 102 cut off below its ventricles by the
    field of view: 147 mL of white matter in its region map instead of 332).

    >>> data = np.repeat(np.array([10, 20, 30, 80, 100, 110, 120], np.float32), 50)
    >>> inside = np.ones(data.size, bool)
    >>> kmeans_start(data, inside, data >= 100)
    'Kmeans[3,10x60x110]'
    >>> kmeans_start(data, inside, None), kmeans_start(data, inside, data >= 120)
    ('Kmeans[3]', 'Kmeans[3]')
    """
    if core is not None:
        core_values = data[np.asarray(core, dtype=bool) & inside]
        csf = float(np.percentile(data[inside], 5))
        wm = float(np.median(core_values)) if core_values.size >= MIN_CORE_VOXELS else csf
        if wm > csf:
            return f"Kmeans[3,{csf:.6g}x{(csf + wm) / 2:.6g}x{wm:.6g}]"
    return "Kmeans[3]"


def segment_tissues(
    t1: nib.Nifti1Image,
    brain_mask: npt.ArrayLike,
    *,
    white_matter_core: npt.ArrayLike | None = None,
    mrf: float = 0.1,
) -> Tissues:
    """CSF, GM and WM posterior probabilities (ANTs Atropos, 3-class k-means) in the brain.

    The classes are named by mean T1w intensity (CSF darkest, WM brightest).
    ``white_matter_core`` (voxels of the T1w grid that are white matter in any brain:
    :func:`atlas_white_matter_core`) starts the k-means from anatomical centres
    (:func:`kmeans_start`); on the 20 WMH-challenge subjects it converges to the classes
    of ITK's own start (every class within 0.04 mL), and on brains whose histogram
    misleads that start it keeps the classes anatomical. Atropos runs with a constant
    seed, so one thread gives identical results run after run. It runs on the brain's
    bounding box (grown by :data:`ATROPOS_MARGIN` voxels), which gives the posteriors
    it gives on the whole image: on a 1 x 1 x 1.2 mm head with neck, 17 s instead of 26 s.
    """
    ants = load_ants()

    mask = np.asarray(brain_mask, dtype=bool)
    if not mask.any():
        raise InputError("brain mask is empty", fix="check the atlas registration QC")
    box = brain_box(mask, pad=ATROPOS_MARGIN)
    crop = t1.slicer[box]
    data = np.asarray(crop.dataobj, dtype=np.float32)
    inside = mask[box]
    core = None if white_matter_core is None else np.asarray(white_matter_core, bool)[box]
    with private_tempdir():  # Atropos leaves its posterior files in the temp folder
        seg = ants.atropos(
            a=to_ants(like(data, crop, np.float32)),
            x=to_ants(like(inside, crop, np.uint8), pixeltype="float"),
            i=kmeans_start(data, inside, core),
            m=f"[{mrf},1x1x1]",
            c="[3,0]",
            r=0,  # a constant seed: Atropos seeds itself at random by default
        )
    classes = seg["segmentation"].numpy().astype(np.int64)
    means = [
        float(data[classes == k].mean()) if (classes == k).any() else -np.inf for k in (1, 2, 3)
    ]
    order = [int(k) for k in np.argsort(means)]
    posteriors = {}
    for name, k in zip(TISSUES, order, strict=True):
        full = np.zeros(mask.shape, dtype=np.float32)
        full[box] = np.asarray(seg["probabilityimages"][k].numpy(), dtype=np.float32) * inside
        posteriors[name] = full
    return Tissues(posteriors, {name: means[k] for name, k in zip(TISSUES, order, strict=True)})


def fill_lesions(t1: nib.Nifti1Image, lesions: npt.ArrayLike, value: float) -> nib.Nifti1Image:
    """``t1`` with its lesions filled with white-matter intensity ``value`` (lesion filling).

    ``lesions`` holds each voxel's lesion fraction on ``t1``'s grid (a binary mask, or a
    mask carried from another grid with linear interpolation); a voxel takes that share
    of ``value`` and keeps the rest of its own. Segmented afterwards, the lesions count
    as the white matter they are, not as the grey matter their T1w darkness resembles
    (FSL's ``lesion_filling`` does the same for FAST and SIENAX). ``value`` is the mean
    of the white-matter class of the unfilled T1w (:attr:`Tissues.means`). Against
    lesion-free truth on real scans it takes the lesions' error in GM from a median
    1.5 mL to 0.4 mL; a brighter value (the median of the deep white matter) moves the
    class and left GM 0.7-2.8 mL over the truth (``benchmarks/bench_lesion_filling.py``).

    >>> img = nib.Nifti1Image(np.array([[[100, 60, 60, 40]]], np.float32), np.eye(4))
    >>> lesions = np.array([[[0, 1, 0.5, 0]]])
    >>> np.asarray(fill_lesions(img, lesions, 100.0).dataobj).ravel().tolist()
    [100.0, 100.0, 80.0, 40.0]
    """
    data = np.asarray(t1.dataobj, dtype=np.float32)
    fraction = np.clip(np.asarray(lesions, dtype=np.float32), 0, 1)
    if fraction.shape != data.shape:
        raise InputError(
            f"lesion mask shape {fraction.shape} differs from the T1w's {data.shape}",
            fix="carry the lesion mask onto the T1w's grid",
        )
    return like(data + fraction * (np.float32(value) - data), t1, np.float32)


def lesions_on_t1(
    lesions: nib.Nifti1Image,
    t1: nib.Nifti1Image,
    t1w_to_flair: LinearTransform | None = None,
) -> npt.NDArray[np.float32]:
    """Each T1w voxel's lesion fraction, from a lesion mask on the analysis grid.

    ``t1w_to_flair`` maps the analysis (FLAIR) grid's points to the T1w's (the workflow's
    rigid fit); the mask is carried through its inverse with linear interpolation, so a
    T1w voxel that a thick FLAIR slice's lesion half covers gets half. Without it the
    mask must be on the T1w's own grid.
    """
    mask = like((np.asarray(lesions.dataobj) > 0).astype(np.float32), lesions, np.float32)
    if t1w_to_flair is not None:
        carried = apply_linear(mask, t1, [t1w_to_flair.inverse()], interpolation="linear")
        return np.clip(np.asarray(carried.dataobj, dtype=np.float32), 0, 1)
    if mask.shape != t1.shape or not np.allclose(mask.affine, t1.affine, atol=1e-3):
        raise InputError(
            f"lesion mask grid {mask.shape} differs from the T1w's {t1.shape}",
            fix="give the T1w -> FLAIR transform, or a lesion mask on the T1w's grid",
        )
    return np.asarray(mask.dataobj, dtype=np.float32)


def tissue_volumes(tissues: Tissues, t1: nib.Nifti1Image) -> dict[str, float]:
    """Each class's volume in mm^3: the sum of its posteriors times the voxel volume."""
    voxel = voxel_volume_mm3(t1)
    return {name: float(tissues.posteriors[name].sum()) * voxel for name in TISSUES}


def tissue_columns(tissue_mm3: Mapping[str, float] | None) -> dict[str, float]:
    """The registration QC row's ``tissue_<class>_ml`` (NaN for a FLAIR fit).

    >>> tissue_columns({"csf": 250_000.0, "gm": 600_000.0, "wm": 450_123.4})
    {'tissue_csf_ml': 250.0, 'tissue_gm_ml': 600.0, 'tissue_wm_ml': 450.123}
    >>> tissue_columns(None)["tissue_wm_ml"]
    nan
    """
    return {
        f"tissue_{name}_ml": round(tissue_mm3[name] / 1000, 3) if tissue_mm3 else float("nan")
        for name in TISSUES
    }


def tissue_mm3_from_columns(row: Mapping[str, Any]) -> dict[str, float]:
    """The tissue volumes (mm^3) of a registration QC row (:func:`tissue_columns`)."""
    return {name: 1000 * float(row[f"tissue_{name}_ml"]) for name in TISSUES}


def hippocampus_volume(
    t1: nib.Nifti1Image,
    atlas_t1: nib.Nifti1Image,
    atlas_hippocampus: nib.Nifti1Image,
    atlas_to_t1: LinearTransform,
    *,
    margin_mm: float = 15.0,
    iterations: tuple[int, ...] = (40, 20, 0),
) -> float:
    """Hippocampal volume in mm^3 by deformable (SyN) registration around the hippocampi.

    The atlas hippocampus is carried onto the T1w by the affine ``atlas_to_t1``; the T1w
    is cropped to that region grown by ``margin_mm``; ANTs SyN then refines the affine
    fit inside the crop only (2 s instead of minutes for a whole head) and the atlas
    mask, carried through both transforms with linear interpolation, is summed (partial
    voxels count by their share).
    """
    ants = load_ants()

    roi = np.asarray(
        apply_linear(atlas_hippocampus, t1, [atlas_to_t1], interpolation="mask").dataobj
    ).astype(bool)
    if not roi.any():
        raise InputError(
            "the atlas hippocampus carried onto the T1w is empty",
            fix="check the atlas hippocampus mask and the atlas registration QC",
        )
    idx = np.argwhere(roi)
    margin = np.ceil(margin_mm / np.asarray(voxel_sizes(t1))).astype(int)
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, t1.shape[:3])
    crop = t1.slicer[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    with tempfile.TemporaryDirectory(prefix="wmhmap-hippo-") as tmp:
        affine_path = str(Path(tmp) / "affine.mat")
        atlas_to_t1.write(affine_path)
        reg = ants.registration(
            fixed=to_ants(crop),
            moving=to_ants(atlas_t1),
            type_of_transform="SyNOnly",
            initial_transform=[affine_path],
            reg_iterations=iterations,
            outprefix=str(Path(tmp) / "syn_"),
        )
        mask = like(np.asarray(atlas_hippocampus.dataobj) > 0, atlas_hippocampus, np.float32)
        warped = ants.apply_transforms(
            fixed=to_ants(crop),
            moving=to_ants(mask),
            transformlist=reg["fwdtransforms"],
            interpolator="linear",
        )
    return float(warped.numpy().clip(0, 1).sum() * voxel_volume_mm3(t1))


def brain_volumes(
    t1: nib.Nifti1Image,
    brain_mask: nib.Nifti1Image,
    atlas_to_t1: LinearTransform,
    *,
    atlas_t1: nib.Nifti1Image | None = None,
    atlas_hippocampus: nib.Nifti1Image | None = None,
    atlas_white_matter: nib.Nifti1Image | None = None,
    tissue_mm3: Mapping[str, float] | None = None,
    lesions: npt.ArrayLike | None = None,
    white_matter_mean: float | None = None,
) -> BrainVolumes:
    """Measure ICV, CSF, GM, WM and hippocampal volumes of one subject.

    ``t1`` is the bias-corrected T1w on its own grid, ``brain_mask`` its brain mask,
    ``atlas_to_t1`` the affine atlas registration onto it (see the module docstring).
    Without ``atlas_hippocampus`` (and ``atlas_t1``) the hippocampal volume is NaN.
    ``tissue_mm3`` gives the tissue classes already segmented in this mask (the atlas
    propagation's, :attr:`wmhmap.atlas.Propagation.tissue_mm3`: the workflow segments
    each T1w once); without it Atropos runs here, its classes started from the anatomy
    by ``atlas_white_matter`` carried onto the T1w (:func:`segment_tissues`), else from
    the histogram. ``lesions`` (lesion fractions on ``t1``'s grid) with lesion voxels in
    the brain are filled first with ``white_matter_mean`` (the mean of the unfilled
    T1w's white-matter class; without it Atropos segments the unfilled T1w here to get
    it) and the filled T1w is segmented anew (:func:`fill_lesions`; it needs
    ``atlas_white_matter`` to start the classes): ``tissue_mm3`` describes the unfilled
    T1w and is not used then.
    """
    mask = np.asarray(brain_mask.dataobj) > 0
    if mask.shape != t1.shape:
        raise InputError(
            f"brain mask shape {mask.shape} differs from the T1w's {t1.shape}",
            fix="use the brain mask of this T1w",
        )
    voxel = voxel_volume_mm3(t1)
    fraction = None if lesions is None else np.clip(np.asarray(lesions, dtype=np.float32), 0, 1)
    filled_mm3 = 0.0 if fraction is None else float(fraction[mask].sum()) * voxel
    if filled_mm3 > 0 or tissue_mm3 is None:
        core = None
        if atlas_white_matter is not None:
            carried = apply_linear(atlas_white_matter, t1, [atlas_to_t1], interpolation="mask")
            core = atlas_white_matter_core(np.asarray(carried.dataobj) > 0, t1)
        image = t1
        if fraction is not None and filled_mm3 > 0:
            if core is None:
                raise ValueError("lesion filling needs atlas_white_matter (its deep white matter)")
            if white_matter_mean is None or not np.isfinite(white_matter_mean):
                white_matter_mean = segment_tissues(t1, mask, white_matter_core=core).means["wm"]
            image = fill_lesions(t1, fraction, white_matter_mean)
        tissue_mm3 = tissue_volumes(segment_tissues(image, mask, white_matter_core=core), t1)
    sums = {k: float(tissue_mm3[k]) for k in TISSUES}
    if not all(np.isfinite(v) and v >= 0 for v in sums.values()) or sum(sums.values()) <= 0:
        raise InputError(
            f"tissue volumes {sums} are not volumes",
            fix="rerun the atlas propagation of this subject",
        )
    hippocampus_mm3 = float("nan")
    if atlas_hippocampus is not None:
        if atlas_t1 is None:
            raise ValueError("atlas_hippocampus needs atlas_t1 for the deformable refinement")
        hippocampus_mm3 = hippocampus_volume(t1, atlas_t1, atlas_hippocampus, atlas_to_t1)
    share = {k: v / sum(sums.values()) for k, v in sums.items()}
    icv = float(mask.sum() * voxel)
    return BrainVolumes(
        hippocampus_mm3=hippocampus_mm3,
        csf_mm3=share["csf"] * icv,
        gm_mm3=share["gm"] * icv,
        wm_mm3=share["wm"] * icv,
        icv_mm3=icv,
        filled_lesion_mm3=filled_mm3,
    )
