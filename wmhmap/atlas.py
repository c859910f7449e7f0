"""Atlas-label propagation: the atlas T1 is registered to a subject and its labels follow.

The registration is affine with mutual information (ANTs), from the skull-stripped atlas
T1 to the subject's native T1w (or FLAIR when there is no T1w) inside its brain mask
(:mod:`wmhmap.brainmask`); the labels are then carried onto the subject's analysis grid
through the chain atlas -> T1w -> FLAIR in one ``genericLabel`` resampling.

It starts from the brain masks: the atlas brain mask is fitted (affine) to the
subject's, from their centres of mass. Masks have the same "contrast" whatever the
scanner or modality, and skull, neck or the field of view's edge cannot pull them. When
that fit overlaps the subject's brain poorly (a head tilted far from the atlas), ANTs'
``antsAffineInitializer`` searches over rotations for a second start and the better fit
is kept. Optionally, as in the studies, a last step registers the atlas white matter to
the subject's white matter.

As in the studies, the region map covers the subject's white matter only: the atlas
parcels (which take in cortex, deep grey matter and ventricles) are kept where the
subject's T1w is white matter (ANTs Atropos), and white matter on an atlas structure
that no region lists gets the "other" labels 35 (left) / 36 (right). Without a T1w the
atlas white matter stands in for the subject's. ``region_map: parcels`` keeps the whole
parcels.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from wmhmap.antspy import load_ants
from wmhmap.brainmask import mask_dice
from wmhmap.brainvolumes import (
    WM_CORE_MM,
    Tissues,
    atlas_white_matter_core,
    segment_tissues,
    tissue_volumes,
)
from wmhmap.errors import InputError
from wmhmap.geometry import to_ants, voxel_sizes
from wmhmap.imageio import like
from wmhmap.preprocess import (
    LinearRegistrationSettings,
    LinearTransform,
    apply_linear,
    dilate_mask,
    register_linear,
    resample_to_spacing,
)
from wmhmap.regions import OTHER_LEFT, OTHER_RIGHT, RegionTable, merge_labels


@dataclass(frozen=True)
class Atlas:
    """An atlas in its own space: T1, region labels, brain mask, white matter."""

    t1: nib.Nifti1Image
    labels: nib.Nifti1Image
    brain_mask: nib.Nifti1Image
    white_matter: nib.Nifti1Image
    extra_labels: dict[str, nib.Nifti1Image] = field(default_factory=dict)
    """Further label maps to carry along (e.g. ``hippocampus``)."""


JHU_HIPPOCAMPUS_LABELS = (27, 92)
"""Left and right hippocampus in the JHU-MNI-SS type II parcellation (its Slicer LUT)."""

JHU_RIGHT_OFFSET = 65
"""JHU type II labels 1-65 are left structures, 66-130 their right twins."""

COARSE_MM = 3.0
"""Voxel size of the first (brain-mask) pass."""
MASK_REGISTRATION = LinearRegistrationSettings(
    shrink_mm=(2 * COARSE_MM, COARSE_MM),
    smoothing_mm=(COARSE_MM, 0.0),
    iterations=(100, 50),
    metric="meansquares",
)
REGION_MAPS = ("white_matter", "parcels")


@dataclass(frozen=True)
class PropagationSettings:
    registration: LinearRegistrationSettings = field(default_factory=LinearRegistrationSettings)
    mask_dilation_mm: float = 3.0
    """Dilation of the subject's brain mask that restricts the intensity pass."""
    wm_restricted: bool = False
    """Finish with an affine registration of atlas WM to subject WM (as in the studies)."""
    region_map: str = "white_matter"
    """``white_matter`` (the regions on the subject's white matter, as in the studies) or
    ``parcels`` (the atlas's whole parcels)."""
    search_below_dice: float = 0.9
    """Brain-mask overlap of the first fit below which a rotation search runs (good fits
    of real brains overlap 0.94-0.96)."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PropagationSettings:
        """Settings from the workflow config (``registration`` and ``atlas.region_map``)."""
        registration = config["registration"]
        return cls(
            registration=LinearRegistrationSettings.from_config(registration["affine"]),
            wm_restricted=bool(registration["wm_restricted"]),
            region_map=str(config["atlas"]["region_map"]),
        )

    def __post_init__(self) -> None:
        if self.region_map not in REGION_MAPS:
            raise InputError(
                f"region map {self.region_map!r} is unknown",
                fix=f"use one of {', '.join(REGION_MAPS)} (atlas.region_map)",
            )


@dataclass
class Propagation:
    """Everything propagated onto a subject's analysis grid, plus QC numbers."""

    labels: nib.Nifti1Image
    """The region map of ``region_map``: white-matter regions, or whole parcels."""
    parcels: nib.Nifti1Image
    """The atlas's whole parcels (regions, 35/36 for other atlas structures, 0 outside)."""
    white_matter: nib.Nifti1Image
    """The atlas white matter (a prior, e.g. for the classic segmenters)."""
    extra_labels: dict[str, nib.Nifti1Image]
    atlas_to_subject: LinearTransform
    """Maps subject (T1w or FLAIR native) world points to atlas world points."""
    quality: dict[str, Any]
    tissue_mm3: dict[str, float] | None = None
    """CSF, GM and WM of the T1w's tissue classes in its brain mask (posterior sums, mm^3;
    :func:`wmhmap.brainvolumes.tissue_volumes`); ``None`` for a FLAIR fit. The brain
    volumes are measured from these: the same classes the region map used."""


def build_atlas_labels(
    jhu_type2: nib.Nifti1Image, table: RegionTable, *, file: str | None = None
) -> nib.Nifti1Image:
    """Merge a JHU type II label image into the table's regions.

    Structures no region lists (cerebellum, brainstem tracts, deep grey nuclei,
    hippocampus, amygdala) become 35 (left, JHU labels 1-65) or 36 (right, 66-130), as
    in the study's refined atlas; background stays 0.

    >>> from wmhmap.regions import Region
    >>> t = RegionTable((Region(1, "left", "a", (3,)), Region(18, "right", "b", (68,))))
    >>> img = nib.Nifti1Image(np.array([[[0, 3, 28, 68, 93]]], np.int16), np.eye(4))
    >>> np.asarray(build_atlas_labels(img, t).dataobj).ravel().tolist()
    [0, 1, 35, 18, 36]
    """
    labels = np.asarray(jhu_type2.dataobj)
    merged = merge_labels(labels, table, file=file)
    other = (merged == 0) & (labels > 0)
    merged[other & (labels <= JHU_RIGHT_OFFSET)] = OTHER_LEFT
    merged[other & (labels > JHU_RIGHT_OFFSET)] = OTHER_RIGHT
    return like(merged, jhu_type2, np.uint8)


def jhu_atlas(
    t1: nib.Nifti1Image,
    type2_labels: nib.Nifti1Image,
    brain_mask: nib.Nifti1Image,
    tissue_classes: nib.Nifti1Image,
    table: RegionTable,
    *,
    labels_file: str | None = None,
) -> Atlas:
    """The JHU "Eve" atlas in the workflow's form: skull-stripped T1, the table's regions
    (:func:`build_atlas_labels`), brain mask, white matter (tissue class 3) and the
    hippocampus (:data:`JHU_HIPPOCAMPUS_LABELS`) as an extra label map."""
    labels = np.asarray(type2_labels.dataobj)
    return Atlas(
        t1=t1,
        labels=build_atlas_labels(type2_labels, table, file=labels_file),
        brain_mask=like(np.asarray(brain_mask.dataobj) > 0, t1, np.uint8),
        white_matter=like(np.asarray(tissue_classes.dataobj) == 3, t1, np.uint8),
        extra_labels={"hippocampus": like(np.isin(labels, JHU_HIPPOCAMPUS_LABELS), t1, np.uint8)},
    )


def _correlation(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def registration_quality(
    subject: nib.Nifti1Image,
    subject_brain: npt.ArrayLike,
    warped_atlas_t1: nib.Nifti1Image,
    warped_brain: npt.ArrayLike,
    *,
    modality: str = "T1w",
) -> dict[str, float]:
    """How well the atlas fits, in measures that suit the registered modality.

    ``brain_dice``, the overlap of the atlas brain carried over with the subject's own
    brain mask, holds for every modality: 0.94-0.96 for good fits of the JHU atlas to
    real T1w scans of three scanners, 0.97-0.98 on the demo. ``correlation`` of the
    atlas T1 with the subject inside the brain is only meaningful on a T1w (NaN
    otherwise); it falls with atrophy (0.22 for a good fit of a brain with large
    ventricles), so only a value near 0 (a fit 70 mm off: 0.01) is flagged
    (:mod:`wmhmap.qc`). ``mattes_mi`` is ANTs' mutual
    information (more negative: more shared information).
    """
    ants = load_ants()

    brain = np.asarray(subject_brain, dtype=bool)
    warped = np.asarray(warped_brain, dtype=bool)
    both = brain & warped
    correlation = float("nan")
    if modality == "T1w" and both.any():
        s = np.asarray(subject.dataobj, dtype=np.float64)[both]
        a = np.asarray(warped_atlas_t1.dataobj, dtype=np.float64)[both]
        correlation = _correlation(s, a)
    mi = float(ants.image_mutual_information(to_ants(subject), to_ants(warped_atlas_t1)))
    return {
        "brain_dice": mask_dice(brain, warped),
        "correlation": correlation,
        "mattes_mi": mi,
    }


def _view(
    moving: nib.Nifti1Image, reference: nib.Nifti1Image, reference_to_moving: LinearTransform
) -> npt.NDArray[np.bool_]:
    """The reference grid's voxels that the moving scan's field of view covers."""
    ones = like(np.ones(moving.shape[:3], np.uint8), moving, np.uint8)
    view = apply_linear(ones, reference, [reference_to_moving], interpolation="mask")
    return np.asarray(view.dataobj) > 0


def coregistration_overlap(
    moving_brain: nib.Nifti1Image,
    reference_brain: nib.Nifti1Image,
    reference_to_moving: LinearTransform,
) -> float:
    """How well a scan registered onto another lies on it: the Dice overlap of its brain
    mask, carried onto the reference's grid, with the reference's own brain mask, counted
    where the moving scan's field of view covers the reference grid (a T1w slab that
    leaves the cerebellum out costs nothing).

    Each mask is found on its own scan (deepbet), so a fit that is off shows as a worse
    overlap. Real T1w -> FLAIR fits (the Lesjak scans, 3-4 mm slices on other grids; a
    1 mm pair; the demo's 2 x 2 x 4 mm FLAIRs): 0.977-0.986. The same fits moved by 5 mm:
    0.93-0.94; by 10 mm: 0.87-0.89; turned by 10 degrees: 0.93-0.95, by 20: 0.88-0.90;
    front to back: 0.80-0.87.
    """
    carried = apply_linear(
        moving_brain, reference_brain, [reference_to_moving], interpolation="mask"
    )
    inside = _view(moving_brain, reference_brain, reference_to_moving)
    reference = (np.asarray(reference_brain.dataobj) > 0) & inside
    return mask_dice(reference, (np.asarray(carried.dataobj) > 0) & inside)


def stripped_background(
    image: nib.Nifti1Image, *, floor: float | None = None
) -> npt.NDArray[np.bool_]:
    """The voxels a skull-stripped or masked scan was cut to: those at its lowest value
    (``floor``, by default the image's minimum) that reach the edge of the grid through
    one another. CSF stored as that value inside a head (clinical FLAIRs clip some of
    it to zero) is enclosed by tissue and is not background.

    Real scans through the workflow's preprocessing: native FLAIRs hold 0-2,200 voxels
    at zero in the brain mask and T1w 0-740, of which at most 90 reach the edge; the
    Lesjak T1w normalised to MNI and stripped with one mask hold 50,000-66,000, all but
    about 20 reaching it.
    """
    values = np.asarray(image.dataobj)
    low = float(np.min(values)) if floor is None else floor
    # at the floor, up to interpolation's rounding
    at_floor = values <= low + 1e-6 * (float(np.max(values)) - low)
    components, _ = ndi.label(at_floor)
    faces = [np.take(components, i, axis=a).ravel() for a in range(3) for i in (0, -1)]
    edge = np.unique(np.concatenate(faces))
    return np.isin(components, edge[edge > 0])


CSF_SHARE = 0.10


def csf_overlap(
    moving: nib.Nifti1Image,
    reference: nib.Nifti1Image,
    reference_brain: nib.Nifti1Image,
    reference_to_moving: LinearTransform,
    *,
    share: float = CSF_SHARE,
) -> float:
    """Whether two scans of one head show the same anatomy where a fit puts them: the
    Dice overlap of their darkest ``share`` of the reference's brain (CSF, dark on a T1w
    and on a FLAIR alike: ventricles and sulci), the moving scan carried onto the
    reference grid, counted where its field of view reaches.

    The brain masks' overlap (:func:`coregistration_overlap`) judges the outline only,
    and another person's brain, fitted rigidly, has much the same outline: on real pairs
    of two Lesjak patients and lesjak07 it overlaps 0.86-0.95, the same person 0.974-0.986.
    Ventricles and sulci are each person's own. Real T1w -> FLAIR fits (the four Lesjak
    visits, 3-4 mm slices on other grids, and lesjak07, 1 mm; also with the FLAIRs'
    slices merged to 6-8 mm): 0.74-0.82, the T1w of the person's other visit 0.72-0.79;
    the same fits moved 2 mm: 0.43-0.53, 5 mm: 0.24-0.36, turned 5 degrees: 0.37-0.48;
    another person's T1w on the FLAIR: 0.19-0.44 (``benchmarks/bench_t1w_flair_pairs.py``).
    The demo's phantoms (one anatomy, deformed) score 0.91, and 0.73 with another
    phantom's T1w: they cannot show a swap.

    A skull-stripped scan's background (:func:`stripped_background`) does not count: inside
    the other scan's brain mask it is dark on both and would count as shared CSF. Four
    Lesjak T1w normalised to MNI and stripped with one common mask: another person's
    visit 0.41-0.44 (0.52-0.55 counting the background), the same person's 0.81-0.86
    (``bench_visit_pairs.py --template``).
    """
    if not 0 < share < 1:
        raise ValueError(f"share must lie in (0, 1), got {share}")
    carried = apply_linear(moving, reference, [reference_to_moving], interpolation="linear")
    inside = _view(moving, reference, reference_to_moving)
    inside &= np.asarray(reference_brain.dataobj) > 0
    inside &= ~stripped_background(reference)
    inside &= ~stripped_background(carried, floor=float(np.min(np.asarray(moving.dataobj))))
    n = int(inside.sum())
    k = round(share * n)
    if k == 0:
        return float("nan")

    def darkest(img: nib.Nifti1Image) -> npt.NDArray[np.bool_]:
        values = np.asarray(img.dataobj, dtype=np.float64)[inside]
        dark = np.zeros(n, dtype=bool)
        dark[np.argpartition(values, k - 1)[:k]] = True
        return dark

    return mask_dice(darkest(carried), darkest(reference))


GREY_GAP_MM = 2.0
"""Distance from the atlas white matter beyond which its brain may count as grey matter
(:func:`atlas_grey_matter`): the partial volumes at the boundary stay out."""


def atlas_grey_matter(atlas: Atlas, gap_mm: float = GREY_GAP_MM) -> nib.Nifti1Image:
    """The atlas's grey matter, found on its own T1: the brain farther than ``gap_mm``
    from its white matter, the brighter half of it (the darker half is CSF: sulci and
    ventricles). Any atlas with a T1, a brain mask and a white-matter mask has one.
    """
    t1 = np.asarray(atlas.t1.dataobj, dtype=np.float32)
    brain = np.asarray(atlas.brain_mask.dataobj) > 0
    white = np.asarray(atlas.white_matter.dataobj) > 0
    grey = np.zeros(brain.shape, dtype=np.uint8)
    box = ndi.find_objects(brain.astype(np.uint8))
    if box:  # the brain's bounding box: the distances there alone take half the time
        (inner,) = box
        distance = ndi.distance_transform_edt(~white[inner], sampling=voxel_sizes(atlas.t1))
        away = brain[inner] & (distance > gap_mm)
        if away.any():
            grey[inner] = away & (t1[inner] > np.median(t1[inner][away]))
    return like(grey, atlas.t1, np.uint8)


def white_grey_ratio(
    scan: nib.Nifti1Image,
    brain: npt.ArrayLike,
    deep_white_matter: npt.ArrayLike,
    atlas_grey_matter: npt.ArrayLike,
) -> float:
    """Whether a scan has the contrast its column claims: the median intensity of the
    atlas's deep white matter (deeper than :data:`WM_CORE_MM`:
    :func:`wmhmap.brainvolumes.atlas_white_matter_core` of the atlas white matter carried
    onto ``scan``), over the median of the atlas's grey matter (:func:`atlas_grey_matter`,
    carried too), both counted inside its ``brain``. NaN when either is empty.

    On a T1w the white matter is the brightest tissue; on a FLAIR grey matter is brighter
    than white. Real scans (``benchmarks/bench_scan_contrast.py``): 25 T1w of five
    scanners 1.18-1.66, 7 FLAIRs 0.84-1.04; so a FLAIR given as the T1w (or a T1w as the
    FLAIR), which the CSF check (:func:`csf_overlap`) passes, being the same head, shows
    here. The fit need not be exact: the medians hold with the regions a few mm off.
    """
    inside = np.asarray(brain, dtype=bool)
    deep = np.asarray(deep_white_matter, dtype=bool) & inside
    grey = np.asarray(atlas_grey_matter, dtype=bool) & inside & ~deep
    if not deep.any() or not grey.any():
        return float("nan")
    data = np.asarray(scan.dataobj, dtype=np.float32)
    grey_median = float(np.median(data[grey]))
    return float(np.median(data[deep])) / grey_median if grey_median > 0 else float("nan")


def fit_scale(fit: LinearTransform) -> float:
    """A linear fit's scale: the cube root of its determinant's magnitude (1 for a rigid
    fit; the cube of it for volumes).

    >>> fit_scale(LinearTransform(np.diag([0.97, 0.97, 0.97, 1.0])))
    0.97
    """
    return round(float(abs(np.linalg.det(fit.matrix_ras[:3, :3])) ** (1 / 3)), 9)


BRIGHT_SHARE = 0.05
"""The share of a scan's brain whose lower edge :func:`bright_white_ratio` measures."""


def bright_white_ratio(
    scan: nib.Nifti1Image,
    brain: npt.ArrayLike,
    deep_white_matter: npt.ArrayLike,
    share: float = BRIGHT_SHARE,
) -> float:
    """Whether CSF is dark on a scan, as on a T1w and a FLAIR: the intensity above which
    the brightest ``share`` of its ``brain`` lies, over the median of the atlas's deep
    white matter (as in :func:`white_grey_ratio`). NaN when either is empty.

    A brain mask of the intracranial volume holds 10-30 % CSF. On a T2w CSF is 2-5 x as
    bright as white matter, so it fills the brightest 5 %; on a FLAIR it is dark and the
    brightest 5 % are grey matter and lesions. 7 real FLAIRs 1.18-1.38, 25 real T1w of
    five scanners 1.03-1.25 (``benchmarks/bench_scan_contrast.py``); a phantom with a
    mild T2w's contrast 1.83, a typical one 2.41 (``tests/test_qc.py``). So a T2w given
    as the FLAIR, whose grey matter is brighter than its white matter as on a FLAIR
    (:func:`white_grey_ratio` passes it), shows here.
    """
    if not 0 < share < 1:
        raise ValueError(f"share must lie in (0, 1), got {share}")
    inside = np.asarray(brain, dtype=bool)
    deep = np.asarray(deep_white_matter, dtype=bool) & inside
    if not deep.any():
        return float("nan")
    data = np.asarray(scan.dataobj, dtype=np.float32)
    white = float(np.median(data[deep]))
    bright = float(np.quantile(data[inside], 1 - share))
    return bright / white if white > 0 else float("nan")


def _smoothed(mask: npt.ArrayLike, img: nib.Nifti1Image) -> nib.Nifti1Image:
    return like(ndi.gaussian_filter(np.asarray(mask, dtype=np.float32), 1.0), img, np.float32)


def _coarse_mask(mask: npt.ArrayLike, img: nib.Nifti1Image) -> nib.Nifti1Image:
    """A binary mask on a :data:`COARSE_MM` grid, smoothed by one voxel."""
    coarse = resample_to_spacing(like(mask, img, np.float32), COARSE_MM)
    return _smoothed(np.asarray(coarse.dataobj) > 0.5, coarse)


SEARCH_MM = 6.0
"""Voxel size of the rotation search: 3.5 s at 6 mm, 19-97 s at 3 mm, the same start."""


def rotation_search(fixed: nib.Nifti1Image, moving: nib.Nifti1Image) -> LinearTransform:
    """A start for a badly posed head: ANTs' multi-start search over rotations.

    ``antsAffineInitializer`` tries rotations every 30 degrees over +-0.6 pi, each refined
    by a few gradient steps, and keeps the best by mutual information; on
    :data:`SEARCH_MM` masks it takes about 4 s.
    """
    ants = load_ants()

    with tempfile.TemporaryDirectory(prefix="wmhmap-init-") as tmp:
        path = ants.affine_initializer(
            to_ants(resample_to_spacing(fixed, SEARCH_MM)),
            to_ants(resample_to_spacing(moving, SEARCH_MM)),
            search_factor=30,
            radian_fraction=0.6,
            use_principal_axis=False,
            local_search_iterations=5,
            txfn=str(Path(tmp) / "init.mat"),
        )
        return LinearTransform.from_ants(ants.read_transform(path))


def fit_brain_masks(
    subject_brain: npt.ArrayLike,
    subject: nib.Nifti1Image,
    atlas: Atlas,
    *,
    search_below_dice: float = 0.9,
) -> tuple[LinearTransform, dict[str, Any]]:
    """Affine fit of the atlas brain mask to the subject's brain mask (3 mm grid).

    Starts from the centres of mass; when the fit overlaps the subject's brain less than
    ``search_below_dice``, a rotation search (:func:`rotation_search`) gives a second
    start and the fit with the larger overlap is kept.
    """
    fixed = _coarse_mask(subject_brain, subject)
    moving = _coarse_mask(np.asarray(atlas.brain_mask.dataobj) > 0, atlas.brain_mask)
    fixed_mask = np.asarray(fixed.dataobj) > 0.5

    def overlap(t: LinearTransform) -> float:
        warped = apply_linear(atlas.brain_mask, fixed, [t], interpolation="mask")
        return mask_dice(fixed_mask, np.asarray(warped.dataobj) > 0)

    fit = register_linear(fixed, moving, kind="Affine", settings=MASK_REGISTRATION)
    dice = overlap(fit)
    info: dict[str, Any] = {"first_fit_dice": dice, "rotation_search": False}
    if dice < search_below_dice:
        start = rotation_search(fixed, moving)
        second = register_linear(
            fixed, moving, kind="Affine", settings=MASK_REGISTRATION, initial=start
        )
        second_dice = overlap(second)
        info.update(rotation_search=True, searched_fit_dice=second_dice)
        if second_dice > dice:
            fit = second
    return fit, info


LESION_CORE_MM = WM_CORE_MM
"""Depth inside the atlas white matter beyond which grey-matter-like T1w voxels count as
white matter (:func:`subject_white_matter`). The same core starts Atropos's white-matter
class (:func:`wmhmap.brainvolumes.segment_tissues`), whose volumes the brain-volume job
reads from this job (:attr:`Propagation.tissue_mm3`)."""


def subject_white_matter(
    t1: nib.Nifti1Image, brain: npt.ArrayLike, atlas_white_matter: npt.ArrayLike
) -> tuple[nib.Nifti1Image, Tissues]:
    """The subject's white matter on its T1w, and the tissue classes it came from.

    White matter is Atropos's (three classes inside the brain, posterior > 0.5), plus the
    voxels deeper than :data:`LESION_CORE_MM` inside the atlas white matter (carried onto
    the T1w) that Atropos calls grey matter rather than CSF: WMH are dark on T1w and land
    in grey matter there, and no grey matter lies that deep in the white matter. On the
    20 WMH-challenge subjects this keeps a median 79 % of the expert lesion voxels in the
    white matter (Atropos alone: 53 %; the study's FAST-AID maps: 84 %).
    """
    core = atlas_white_matter_core(atlas_white_matter, t1)
    tissues = segment_tissues(t1, brain, white_matter_core=core)
    p = tissues.posteriors
    lesion_like = core & (p["gm"] >= p["csf"]) & np.asarray(brain, bool)
    white = (p["wm"] > 0.5) | lesion_like
    return like(white.astype(np.float32), t1, np.float32), tissues


def propagate_atlas(
    atlas: Atlas,
    subject: nib.Nifti1Image,
    reference: nib.Nifti1Image,
    subject_brain: nib.Nifti1Image,
    subject_to_reference: LinearTransform | None = None,
    settings: PropagationSettings | None = None,
    *,
    modality: str = "T1w",
) -> Propagation:
    """Register ``atlas`` to ``subject`` and carry its labels onto ``reference``'s grid.

    Parameters
    ----------
    subject
        Bias-corrected native T1w (RAS), or FLAIR when there is no T1w (``modality``).
    reference
        The subject's analysis grid (FLAIR, or the T1w itself).
    subject_brain
        The brain mask of ``subject`` (:func:`wmhmap.brainmask.extract_brain`).
    subject_to_reference
        Transform mapping reference-grid world points to ``subject`` world points (the
        T1w -> FLAIR rigid registration); ``None`` when ``subject`` is the reference.

    The result's ``quality`` holds, besides the fit's measures, each scan's tissue
    contrast (:func:`white_grey_ratio`, :func:`bright_white_ratio`): ``wm_gm_ratio`` and
    ``bright_wm_ratio`` of ``subject``, and ``reference_wm_gm_ratio`` and
    ``reference_bright_wm_ratio`` of ``reference`` when it is another scan.
    """
    s = settings or PropagationSettings()
    brain = np.asarray(subject_brain.dataobj) > 0
    if brain.shape != subject.shape:
        raise InputError(
            f"brain mask shape {brain.shape} differs from the scan's {subject.shape}",
            fix="extract the brain from this scan",
        )
    atlas_brain = np.asarray(atlas.brain_mask.dataobj) > 0
    atlas_brain_t1 = like(np.asarray(atlas.t1.dataobj, dtype=np.float32) * atlas_brain, atlas.t1)

    # Pass 1: the brain masks. Pass 2: mutual information of the skull-stripped images
    # inside the subject's brain grown by a few mm (the outline's partial volumes count).
    first, quality = fit_brain_masks(brain, subject, atlas, search_below_dice=s.search_below_dice)
    stripped = like(np.asarray(subject.dataobj, dtype=np.float32) * brain, subject, np.float32)
    region = like(dilate_mask(brain, subject, s.mask_dilation_mm), subject, np.uint8)
    final = register_linear(
        stripped,
        atlas_brain_t1,
        kind="Affine",
        settings=s.registration,
        fixed_mask=region,
        initial=first,
    )
    atlas_wm = (
        np.asarray(apply_linear(atlas.white_matter, subject, [final], interpolation="mask").dataobj)
        > 0
    )
    grey = atlas_grey_matter(atlas)
    deep_wm = atlas_white_matter_core(atlas_wm, subject)  # once for both contrast measures
    quality["wm_gm_ratio"] = white_grey_ratio(
        subject,
        brain,
        deep_wm,
        np.asarray(apply_linear(grey, subject, [final], interpolation="mask").dataobj) > 0,
    )
    quality["bright_wm_ratio"] = bright_white_ratio(subject, brain, deep_wm)
    subject_wm = tissue_mm3 = None
    if modality == "T1w":  # the classes serve the region map and the brain volumes
        subject_wm, tissues = subject_white_matter(subject, brain, atlas_wm)
        quality.update({f"tissue_{k}_mean": v for k, v in tissues.means.items()})
        tissue_mm3 = tissue_volumes(tissues, subject)
    if s.wm_restricted:
        wm_target = subject_wm
        if wm_target is None:  # FLAIR: the atlas white matter is all there is
            raise InputError(
                "registration.wm_restricted needs a T1w (its white matter)",
                fix="set registration.wm_restricted: false for subjects without a T1w",
            )
        final = register_linear(
            wm_target,
            like(np.asarray(atlas.white_matter.dataobj, dtype=np.float32), atlas.white_matter),
            kind="Affine",
            settings=LinearRegistrationSettings(
                shrink_mm=(4.0, 2.0),
                smoothing_mm=(2.0, 1.0),
                iterations=(100, 50),
                sampling_rate=s.registration.sampling_rate,
                metric="meansquares",
            ),
            fixed_mask=region,
            initial=final,
        )

    # reference point -> subject point -> atlas point (see apply_linear)
    to_subject = [] if subject_to_reference is None else [subject_to_reference]
    chain = [*to_subject, final]
    parcels = np.asarray(
        apply_linear(atlas.labels, reference, chain, interpolation="label").dataobj
    ).astype(np.uint8)
    wm_ref = apply_linear(atlas.white_matter, reference, chain, interpolation="mask")
    if subject_to_reference is not None:  # the reference is another scan: its contrast too
        reference_brain = (
            np.asarray(
                apply_linear(subject_brain, reference, to_subject, interpolation="mask").dataobj
            )
            > 0
        )
        deep_ref = atlas_white_matter_core(np.asarray(wm_ref.dataobj) > 0, reference)
        quality["reference_wm_gm_ratio"] = white_grey_ratio(
            reference,
            reference_brain,
            deep_ref,
            np.asarray(apply_linear(grey, reference, chain, interpolation="mask").dataobj) > 0,
        )
        quality["reference_bright_wm_ratio"] = bright_white_ratio(
            reference, reference_brain, deep_ref
        )
    if s.region_map == "white_matter":
        if subject_wm is not None:
            wm_prob = apply_linear(subject_wm, reference, to_subject, interpolation="linear")
            white_matter = np.asarray(wm_prob.dataobj) > 0.5
        else:
            white_matter = np.asarray(wm_ref.dataobj) > 0
        labels = np.where(white_matter, parcels, 0).astype(np.uint8)
    else:
        labels = parcels
    extras = {
        name: apply_linear(img, reference, chain, interpolation="label")
        for name, img in atlas.extra_labels.items()
    }
    warped_t1 = apply_linear(atlas.t1, subject, [final], interpolation="linear")
    warped_brain = apply_linear(atlas.brain_mask, subject, [final], interpolation="mask")
    quality.update(
        registration_quality(
            subject, brain, warped_t1, np.asarray(warped_brain.dataobj) > 0, modality=modality
        )
    )
    quality["atlas_scale"] = fit_scale(final)
    return Propagation(
        labels=like(labels, reference, np.uint8),
        parcels=like(parcels, reference, np.uint8),
        white_matter=like(np.asarray(wm_ref.dataobj) > 0, reference, np.uint8),
        extra_labels={
            k: like(np.asarray(v.dataobj), reference, np.uint8) for k, v in extras.items()
        },
        atlas_to_subject=final,
        quality=quality,
        tissue_mm3=tissue_mm3,
    )
