"""Classic WMH segmenters ("bronze" masks) and their STAPLE consensus ("silver" mask).

No deep learning: each method marks the voxels of one scan whose intensity is an
outlier among the white-matter voxels of that same scan, then drops connected
components smaller than a minimum lesion size. That makes them cheap (a second per
subject), scanner-agnostic (no training) and noisy in known ways: FLAIR outliers also
catch bright artefacts and the ependyma, T1w hypointensities also catch grey matter at
the white-matter border. Several such masks of one subject disagree; STAPLE
(Warfield et al. 2004, SimpleITK's implementation) estimates each method's
sensitivity and specificity and the most likely true mask from them: the "silver"
mask that staged and annotation-free nnU-Net training learn from.

A method is ``{modality, statistic, threshold, wm_margin_mm}``:

* ``statistic: zscore``: robust z-score in white matter, ``(x - median) / (1.4826 MAD)``;
  a positive threshold marks hyperintensities (x > threshold), a negative one
  hypointensities (x < threshold).
* ``statistic: percentile``: a percentile of the white-matter intensities; above 50
  marks voxels brighter than it, below 50 voxels darker than it.
* ``wm_margin_mm``: grow (> 0) or shrink (< 0) the white-matter mask by this distance
  before the statistics and the search: the atlas white matter of an affine fit misses
  periventricular caps by a few millimetres (grow it for FLAIR), while grey matter at
  its border is as dark as a lesion on T1w (shrink it there).
* ``smooth_mm``: Gaussian sigma in millimetres (0: none) applied to the image before the
  statistics and the thresholds, the same physical width along thick slices; it lowers
  the voxel noise the robust spread measures, far less than the contrast of a lesion of
  the minimum size.
* ``grow_threshold``: hysteresis (0/None: none). ``threshold`` then only seeds lesions;
  each lesion is the connected region (26-neighbours, inside the search mask) beyond
  ``grow_threshold`` (the same statistic, less extreme) that holds a seed. Lesion rims
  and faint lesion parts are kept when attached to a definite lesion, isolated noise
  beyond ``grow_threshold`` is not (Canny's double threshold). On 3 real MS FLAIRs
  (ISBI 2015 x2, Lesjak 2018; workflow preprocessing) z 4 / 2.5 with 1 mm smoothing
  (``flairhyst`` in the config) took the median Dice against the experts from 0.38
  (z > 3.5) to 0.55 -- settings picked on those same scans, so not an independent test.
* ``edge_fraction`` (z-scores only; 0: none): each lesion keeps only its voxels beyond
  this fraction of its own peak score (and beyond ``grow_threshold``). A fixed grow
  threshold puts a lesion's edge at a fixed number of noise SDs, so on a scan with
  little noise a bright lesion grows through its whole partial-volume fringe; the
  fraction puts the edge where the lesion's contrast has fallen to that share of its
  peak, whatever the noise. Faint lesions (peak z below ``grow_threshold`` /
  ``edge_fraction``) are left as the grow threshold makes them. On the demo's phantoms
  (low noise) hysteresis alone marked 1.3-1.9 times the true volume, 99 % of the excess
  within 3 mm of a lesion (median Dice 0.73); with 0.4, 0.90 (``flairz``: 0.88), the
  real FLAIRs' Dice unchanged or higher (see ``flairhyst`` in the config).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from wmhmap.errors import InputError
from wmhmap.imageio import like, load_image, same_grid
from wmhmap.preprocess import dilate_mask_mm

STATISTICS = ("zscore", "percentile")
MAD_TO_SD = 1.4826
RESERVED_NAMES = frozenset(
    {"reference", "silver", "staple", "truth", "wmh", "modalities", "folds", "fused"}
)
"""Method names taken by other masks of a subject (they become BIDS ``desc-`` values)."""


@dataclass(frozen=True)
class ClassicMethod:
    """One classic segmenter: which scan, which statistic, which threshold."""

    name: str
    modality: str
    statistic: str
    threshold: float
    wm_margin_mm: float = 0.0
    smooth_mm: float = 0.0
    grow_threshold: float | None = None
    edge_fraction: float = 0.0

    def __post_init__(self) -> None:
        where = f"classic.methods.{self.name}"
        if not self.name.isalnum() or self.name in RESERVED_NAMES:
            raise InputError(
                f"{where}: method names must be letters and digits only (a BIDS desc "
                f"value) and not one of {sorted(RESERVED_NAMES)}",
                fix="rename the method, e.g. flairz",
            )
        if self.modality not in ("FLAIR", "T1w"):
            raise InputError(
                f"{where}: modality {self.modality!r} is neither FLAIR nor T1w",
                fix="set modality: FLAIR or modality: T1w",
            )
        if self.statistic not in STATISTICS:
            raise InputError(
                f"{where}: statistic {self.statistic!r} is not one of {STATISTICS}",
                fix="set statistic: zscore or statistic: percentile",
            )
        if self.statistic == "zscore" and self.threshold == 0:
            raise InputError(
                f"{where}: a z-score threshold of 0 marks half the white matter",
                fix="use e.g. 3 (hyperintense) or -3 (hypointense)",
            )
        if self.statistic == "percentile" and not (
            0 < self.threshold < 100 and self.threshold != 50
        ):
            raise InputError(
                f"{where}: percentile threshold {self.threshold} must lie in (0, 100), not 50",
                fix="use e.g. 98 (brightest 2 %) or 2 (darkest 2 %)",
            )
        if self.smooth_mm < 0:
            raise InputError(
                f"{where}: smooth_mm {self.smooth_mm} is negative",
                fix="use 0 (no smoothing) or a sigma in mm, e.g. 1",
            )
        if self.grow_threshold is not None:
            centre = 0.0 if self.statistic == "zscore" else 50.0
            lo, hi = sorted((centre, self.threshold))
            if not lo < self.grow_threshold < hi:
                raise InputError(
                    f"{where}: grow_threshold {self.grow_threshold} must lie between "
                    f"{centre:g} and the threshold {self.threshold:g}",
                    fix="use a less extreme value than threshold, e.g. 2.5 for z > 4",
                )
        if not 0 <= self.edge_fraction < 1:
            raise InputError(
                f"{where}: edge_fraction {self.edge_fraction} must lie in [0, 1)",
                fix="use 0 (none) or a share of each lesion's peak score, e.g. 0.4",
            )
        if self.edge_fraction and self.statistic != "zscore":
            raise InputError(
                f"{where}: edge_fraction needs statistic: zscore (a share of a lesion's "
                "contrast against the white matter; a percentile has no zero)",
                fix="set statistic: zscore or remove edge_fraction",
            )

    @property
    def hyperintense(self) -> bool:
        """Whether the method marks bright voxels (else dark ones)."""
        return self.threshold > (0 if self.statistic == "zscore" else 50)


def methods_from_config(methods: Mapping[str, Mapping[str, Any]]) -> list[ClassicMethod]:
    """The ``classic.methods`` section as :class:`ClassicMethod` objects (config order).

    >>> [m.name for m in methods_from_config(
    ...     {"flairz": {"modality": "FLAIR", "statistic": "zscore", "threshold": 3}})]
    ['flairz']
    """
    return [
        ClassicMethod(
            name=str(name),
            modality=str(spec["modality"]),
            statistic=str(spec["statistic"]),
            threshold=float(spec["threshold"]),
            wm_margin_mm=float(spec.get("wm_margin_mm", 0.0)),
            smooth_mm=float(spec.get("smooth_mm", 0.0)),
            grow_threshold=(float(spec["grow_threshold"]) if spec.get("grow_threshold") else None),
            edge_fraction=float(spec.get("edge_fraction", 0.0)),
        )
        for name, spec in methods.items()
    ]


def white_matter_with_margin(
    white_matter: npt.ArrayLike,
    margin_mm: float,
    spacing: Sequence[float],
    within: npt.ArrayLike | None = None,
) -> npt.NDArray[np.bool_]:
    """``white_matter`` grown (margin > 0) or shrunk (< 0) by ``margin_mm``, in mm.

    Distances are Euclidean in millimetres, so anisotropic voxels (thick FLAIR slices)
    grow by the same physical distance in every direction; ``within`` (the brain mask)
    bounds the result.

    >>> wm = np.zeros((9, 1, 1), bool); wm[4] = True
    >>> white_matter_with_margin(wm, 2.0, (1.0, 1.0, 1.0))[:, 0, 0].astype(int).tolist()
    [0, 0, 1, 1, 1, 1, 1, 0, 0]
    """
    wm = np.asarray(white_matter, dtype=bool)
    if margin_mm > 0:
        out = dilate_mask_mm(wm, spacing, margin_mm)
    elif margin_mm < 0:
        out = ndimage.distance_transform_edt(wm, sampling=spacing) > -margin_mm
    else:
        out = wm.copy()
    if within is not None:
        out &= np.asarray(within, dtype=bool)
    return np.asarray(out, dtype=bool)


def robust_zscore(image: npt.ArrayLike, mask: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``(image - median) / (1.4826 MAD)`` with median and MAD taken inside ``mask``.

    >>> img = np.array([1.0, 2.0, 3.0, 4.0, 100.0]); m = np.ones(5, bool)
    >>> robust_zscore(img, m).round(2).tolist()
    [-1.35, -0.67, 0.0, 0.67, 65.43]
    """
    values = np.asarray(image, dtype=np.float64)
    inside = values[np.asarray(mask, dtype=bool)]
    if inside.size == 0:
        raise InputError("the white-matter mask is empty", fix="check the atlas registration")
    median = float(np.median(inside))
    mad = float(np.median(np.abs(inside - median))) * MAD_TO_SD
    if mad == 0:
        raise InputError(
            "white-matter intensities are constant (MAD 0): no outliers can be defined",
            fix="check the preprocessed image",
        )
    return np.asarray((values - median) / mad, dtype=np.float64)


def remove_small_lesions(mask: npt.ArrayLike, min_voxels: int) -> npt.NDArray[np.bool_]:
    """``mask`` without 26-connected components of fewer than ``min_voxels`` voxels.

    >>> m = np.zeros((5, 5, 1), bool); m[0, 0] = True; m[2:5, 2:5] = True
    >>> int(remove_small_lesions(m, 2).sum())
    9
    """
    binary = np.asarray(mask, dtype=bool)
    if min_voxels <= 1 or not binary.any():
        return binary.copy()
    labels, _ = ndimage.label(binary, structure=np.ones((3,) * binary.ndim, dtype=bool))
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_voxels
    keep[0] = False
    return np.asarray(keep[labels], dtype=bool)


def grow_from_seeds(seeds: npt.ArrayLike, candidates: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """The 26-connected components of ``candidates`` that hold a voxel of ``seeds``.

    >>> c = np.array([1, 1, 0, 1, 1, 1], bool)[:, None, None]
    >>> s = np.array([0, 0, 0, 0, 1, 0], bool)[:, None, None]
    >>> grow_from_seeds(s, c)[:, 0, 0].astype(int).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    seed = np.asarray(seeds, dtype=bool)
    grown = np.asarray(candidates, dtype=bool) | seed
    labels, count = ndimage.label(grown, structure=np.ones((3,) * grown.ndim, dtype=np.bool_))
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[seed])] = True
    keep[0] = False
    return np.asarray(keep[labels], dtype=bool)


def cut_at_edge_fraction(
    score: npt.ArrayLike, lesions: npt.ArrayLike, seeds: npt.ArrayLike, fraction: float
) -> npt.NDArray[np.bool_]:
    """Each 26-connected lesion of ``lesions`` cut to its voxels whose ``score`` exceeds
    ``fraction`` of the lesion's peak score; of the pieces, those holding a seed stay.

    >>> s = np.array([0, 3, 6, 10, 6, 3, 0, 3, 4, 3], float)[:, None, None]
    >>> lesions = s > 2.5
    >>> cut_at_edge_fraction(s, lesions, s > 3.5, 0.4)[:, 0, 0].astype(int).tolist()
    [0, 0, 1, 1, 1, 0, 0, 1, 1, 1]
    """
    values = np.asarray(score, dtype=np.float64)
    found = np.asarray(lesions, dtype=bool)
    labels, count = ndimage.label(found, structure=np.ones((3,) * found.ndim, dtype=bool))
    if count == 0:
        return found.copy()
    peaks = ndimage.maximum(values, labels, np.arange(1, count + 1))
    cut = np.concatenate([[np.inf], fraction * np.asarray(peaks, dtype=np.float64)])
    kept = found & (values > cut[labels])
    return grow_from_seeds(np.asarray(seeds, dtype=bool) & kept, kept)


def classic_mask(
    image: npt.ArrayLike,
    white_matter: npt.ArrayLike,
    method: ClassicMethod,
    *,
    spacing: Sequence[float],
    brain: npt.ArrayLike | None = None,
    min_lesion_mm3: float = 0.0,
) -> npt.NDArray[np.bool_]:
    """One classic method's lesion mask of one scan (see the module docstring)."""
    search = white_matter_with_margin(white_matter, method.wm_margin_mm, spacing, brain)
    if not search.any():
        raise InputError(
            f"{method.name}: the white-matter mask is empty after a margin of "
            f"{method.wm_margin_mm} mm",
            fix="check the atlas white matter or use a smaller negative wm_margin_mm",
        )
    values = np.asarray(image, dtype=np.float64)
    if method.smooth_mm > 0:
        sigma = [method.smooth_mm / float(s) for s in spacing]
        values = ndimage.gaussian_filter(values, sigma, mode="nearest")
    if method.statistic == "zscore":
        score = robust_zscore(values, search)
        cuts = (method.threshold, method.grow_threshold)
    else:
        score = values
        cuts = (
            float(np.percentile(values[search], method.threshold)),
            None
            if method.grow_threshold is None
            else float(np.percentile(values[search], method.grow_threshold)),
        )
    sign = 1.0 if method.hyperintense else -1.0
    seeds = (sign * score > sign * cuts[0]) & search
    found = seeds
    if cuts[1] is not None:
        found = grow_from_seeds(seeds, (sign * score > sign * cuts[1]) & search)
    if method.edge_fraction > 0:
        found = cut_at_edge_fraction(sign * score, found, seeds, method.edge_fraction)
    voxel_mm3 = float(np.prod(spacing))
    min_voxels = int(np.ceil(min_lesion_mm3 / voxel_mm3)) if min_lesion_mm3 > 0 else 0
    return remove_small_lesions(found & search, min_voxels)


@dataclass(frozen=True)
class Consensus:
    """STAPLE's result: the consensus mask, its probability map and each mask's quality."""

    mask: npt.NDArray[np.bool_]
    probability: npt.NDArray[np.float32]
    sensitivity: tuple[float, ...]
    specificity: tuple[float, ...]
    iterations: int = 0
    """EM iterations run (0: no EM was needed)."""
    converged: bool = True
    """False when EM stopped at :data:`STAPLE_MAX_ITERATIONS`."""


STAPLE_MAX_ITERATIONS = 200
"""SimpleITK's STAPLE iterates until it converges, with no limit by default. Masks that
barely overlap converge slowly or never: on one subject of the demo with randomised
scanners (flairz empty, flairpct and t1z nearly disjoint) the silver job ran for over
30 minutes, 1,000 iterations took 122 s and changed nothing (empty consensus, the
sensitivities within 0.011 of those after 50). The demo's other subjects converge in
21-104 iterations."""


def staple(
    masks: Sequence[npt.ArrayLike],
    threshold: float = 0.5,
    *,
    max_iterations: int = STAPLE_MAX_ITERATIONS,
) -> Consensus:
    """STAPLE consensus of binary masks (Warfield et al. 2004, SimpleITK's filter).

    Expectation-maximisation estimates every mask's sensitivity and specificity and the
    probability that each voxel is foreground; the consensus is where that probability
    exceeds ``threshold``. One mask is its own consensus; masks without any foreground
    give an empty one. EM stops after ``max_iterations`` (``converged`` says whether it
    had converged by then).
    """
    import SimpleITK as sitk

    arrays = [np.asarray(m, dtype=bool) for m in masks]
    if not arrays:
        raise InputError("STAPLE needs at least one mask", fix="configure classic.methods")
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise InputError(
            f"STAPLE masks differ in shape: {sorted({a.shape for a in arrays})}",
            fix="give masks on one grid",
        )
    if len(arrays) == 1 or not any(a.any() for a in arrays):
        probability = np.mean(arrays, axis=0).astype(np.float32)
        ones = tuple(1.0 for _ in arrays)
        return Consensus(probability > threshold, probability, ones, ones)
    staple_filter = sitk.STAPLEImageFilter()
    staple_filter.SetForegroundValue(1.0)
    staple_filter.SetMaximumIterations(max_iterations)
    result = staple_filter.Execute([sitk.GetImageFromArray(a.astype(np.uint8)) for a in arrays])
    # Voxels no mask marks can come out of EM as NaN (0/0): they are background.
    probability = np.nan_to_num(sitk.GetArrayFromImage(result).astype(np.float32), nan=0.0)
    return Consensus(
        probability > threshold,
        probability,
        tuple(float(v) for v in staple_filter.GetSensitivity()),
        tuple(float(v) for v in staple_filter.GetSpecificity()),
        iterations=int(staple_filter.GetElapsedIterations()),
        converged=int(staple_filter.GetElapsedIterations()) < max_iterations,
    )


def segment_file(
    image: Path,
    white_matter: Path,
    brain: Path,
    method: ClassicMethod,
    *,
    subject: str,
    min_lesion_mm3: float,
) -> tuple[nib.Nifti1Image, dict[str, Any]]:
    """One classic method on one preprocessed scan: (uint8 mask image, sidecar facts)."""
    scan = load_image(image, subject=subject, role=f"{method.modality} image")
    masks = {}
    for role, path in (("white-matter mask", white_matter), ("brain mask", brain)):
        mask = load_image(path, subject=subject, role=role, dtype=None, allow_constant=True)
        if not same_grid(mask, scan):
            raise InputError(
                f"the {role} is not on the grid of the {method.modality} image",
                subject=subject,
                file=path,
                fix="rerun the atlas propagation of this subject",
            )
        masks[role] = np.asarray(mask.dataobj) > 0
    spacing = tuple(float(v) for v in scan.header.get_zooms()[:3])
    try:
        found = classic_mask(
            np.asarray(scan.dataobj, dtype=np.float32),
            masks["white-matter mask"],
            method,
            spacing=spacing,
            brain=masks["brain mask"],
            min_lesion_mm3=min_lesion_mm3,
        )
    except InputError as err:
        raise InputError(err.problem, subject=subject, file=white_matter, fix=err.fix) from None
    voxel_ml = float(np.prod(spacing)) / 1000.0
    facts = {
        "Method": method.name,
        "Modality": method.modality,
        "Statistic": method.statistic,
        "Threshold": method.threshold,
        "WhiteMatterMarginMM": method.wm_margin_mm,
        "SmoothMM": method.smooth_mm,
        "GrowThreshold": method.grow_threshold,
        "EdgeFraction": method.edge_fraction,
        "MinLesionMM3": min_lesion_mm3,
        "VolumeML": round(float(found.sum()) * voxel_ml, 4),
    }
    return like(found.astype(np.uint8), scan, np.uint8), facts


def staple_files(
    masks: Mapping[str, Path], *, subject: str
) -> tuple[nib.Nifti1Image, nib.Nifti1Image, dict[str, Any]]:
    """STAPLE of a subject's bronze masks: (silver mask, probability, sidecar facts)."""
    if not masks:
        raise InputError(
            "no bronze masks to combine", subject=subject, fix="configure classic.methods"
        )
    images = {
        name: load_image(
            path, subject=subject, role=f"{name} mask", dtype=None, allow_constant=True
        )
        for name, path in masks.items()
    }
    first_name, first = next(iter(images.items()))
    for name, img in images.items():
        if not same_grid(img, first):
            raise InputError(
                f"bronze masks {first_name} and {name} lie on different grids",
                subject=subject,
                file=masks[name],
                fix="rerun the classic segmentation of this subject",
            )
    consensus = staple([np.asarray(img.dataobj) > 0 for img in images.values()])
    voxel_ml = float(np.prod(first.header.get_zooms()[:3])) / 1000.0
    facts = {
        "Methods": list(images),
        "Sensitivity": dict(zip(images, consensus.sensitivity, strict=True)),
        "Specificity": dict(zip(images, consensus.specificity, strict=True)),
        "VolumeML": round(float(consensus.mask.sum()) * voxel_ml, 4),
        "Iterations": consensus.iterations,
        "Converged": consensus.converged,
    }
    return (
        like(consensus.mask.astype(np.uint8), first, np.uint8),
        like(consensus.probability, first, np.float32),
        facts,
    )
