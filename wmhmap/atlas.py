"""Atlas-label propagation: the atlas T1 is registered to a subject and its labels follow.

The registration is affine with mutual information (ANTs), from the atlas T1 to the
subject's native T1w (or FLAIR when there is no T1w); the labels are then carried
onto the subject's analysis grid through the chain atlas -> T1w -> FLAIR in one
``genericLabel`` resampling. Two passes: the second restricts the metric to the
(dilated) brain found by the first, so skull, neck and the field of view's edge of
real scans do not pull the fit. Optionally, as in the studies, a third step
registers the atlas white matter to the subject's white matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from wmhmap.antspy import load_ants
from wmhmap.brainvolumes import segment_tissues
from wmhmap.geometry import to_ants
from wmhmap.imageio import like
from wmhmap.preprocess import (
    LinearRegistrationSettings,
    LinearTransform,
    apply_linear,
    dilate_mask,
    register_linear,
    resample_to_spacing,
    rough_brain_mask,
)
from wmhmap.regions import RegionTable, merge_labels


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

COARSE_MM = 3.0
"""Voxel size of the first (brain-mask) pass."""
MASK_REGISTRATION = LinearRegistrationSettings(
    shrink_mm=(2 * COARSE_MM, COARSE_MM),
    smoothing_mm=(COARSE_MM, 0.0),
    iterations=(100, 50),
    metric="meansquares",
)


@dataclass(frozen=True)
class PropagationSettings:
    registration: LinearRegistrationSettings = field(default_factory=LinearRegistrationSettings)
    mask_dilation_mm: float = 5.0
    """Dilation of the first-pass brain mask that restricts the second pass."""
    wm_restricted: bool = False
    """Finish with an affine registration of atlas WM to subject WM (as in the studies)."""


@dataclass
class Propagation:
    """Everything propagated onto a subject's analysis grid, plus QC numbers."""

    labels: nib.Nifti1Image
    brain_mask: nib.Nifti1Image
    white_matter: nib.Nifti1Image
    extra_labels: dict[str, nib.Nifti1Image]
    atlas_to_subject: LinearTransform
    """Maps subject (T1w or FLAIR native) world points to atlas world points."""
    quality: dict[str, Any]


def build_atlas_labels(
    jhu_type2: nib.Nifti1Image, table: RegionTable, *, file: str | None = None
) -> nib.Nifti1Image:
    """Merge a JHU type II label image into the table's regions (other labels -> 0)."""
    merged = merge_labels(np.asarray(jhu_type2.dataobj), table, file=file)
    return like(merged, jhu_type2, np.uint8)


def segment_white_matter(
    t1: nib.Nifti1Image, brain_mask: npt.ArrayLike
) -> tuple[nib.Nifti1Image, dict[str, float]]:
    """Three-class k-means tissue segmentation (ANTs Atropos) inside the brain.

    Returns the white-matter posterior probability and the mean intensities of the
    classes in ascending order (CSF, GM, WM on a T1w).
    """
    tissues = segment_tissues(t1, brain_mask)
    return like(tissues.posteriors["wm"], t1, np.float32), {
        f"{name}_mean": mean for name, mean in tissues.means.items()
    }


def _correlation(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def registration_quality(
    subject: nib.Nifti1Image, warped_atlas_t1: nib.Nifti1Image, warped_brain: npt.ArrayLike
) -> dict[str, float]:
    """How well the atlas fits: intensity correlation and mutual information in the brain.

    On good registrations of a T1w template to a T1w the correlation is typically
    0.75-0.95; values below about 0.5 mean the fit should be inspected.
    """
    ants = load_ants()

    mask = np.asarray(warped_brain, dtype=bool)
    s = np.asarray(subject.dataobj, dtype=np.float64)[mask]
    a = np.asarray(warped_atlas_t1.dataobj, dtype=np.float64)[mask]
    mi = float(ants.image_mutual_information(to_ants(subject), to_ants(warped_atlas_t1)))
    return {"correlation": _correlation(s, a), "mattes_mi": mi, "brain_voxels": int(mask.sum())}


def propagate_atlas(
    atlas: Atlas,
    subject: nib.Nifti1Image,
    reference: nib.Nifti1Image,
    subject_to_reference: LinearTransform | None = None,
    settings: PropagationSettings | None = None,
) -> Propagation:
    """Register ``atlas`` to ``subject`` and carry its labels onto ``reference``'s grid.

    Parameters
    ----------
    subject
        Bias-corrected native T1w (RAS), or FLAIR when there is no T1w.
    reference
        The subject's analysis grid (FLAIR, or the T1w itself).
    subject_to_reference
        Transform mapping reference-grid world points to ``subject`` world points (the
        T1w -> FLAIR rigid registration); ``None`` when ``subject`` is the reference.
    """
    s = settings or PropagationSettings()
    brain = np.asarray(atlas.brain_mask.dataobj) > 0
    atlas_brain_t1 = like(np.asarray(atlas.t1.dataobj, dtype=np.float32) * brain, atlas.t1)

    # Pass 1: atlas brain mask onto a rough brain mask of the subject. Masks have the
    # same "contrast" whatever the scanner, and skull or neck cannot attract them. Both
    # on a 3 mm grid: this pass only starts the next, and at 1 mm the mask alone took 5 s.
    def smooth(mask: npt.ArrayLike, img: nib.Nifti1Image) -> nib.Nifti1Image:
        return like(ndi.gaussian_filter(np.asarray(mask, dtype=np.float32), 1.0), img, np.float32)

    coarse_subject = resample_to_spacing(subject, COARSE_MM)
    coarse_brain = resample_to_spacing(like(brain, atlas.brain_mask, np.float32), COARSE_MM)
    first = register_linear(
        smooth(rough_brain_mask(coarse_subject), coarse_subject),
        smooth(np.asarray(coarse_brain.dataobj) > 0.5, coarse_brain),
        kind="Affine",
        settings=MASK_REGISTRATION,
    )
    # Pass 2: mutual information on intensities, inside the dilated pass-1 brain.
    brain_in_subject = apply_linear(atlas.brain_mask, subject, [first], interpolation="mask")
    subject_mask = like(
        dilate_mask(np.asarray(brain_in_subject.dataobj) > 0, subject, s.mask_dilation_mm),
        subject,
        np.uint8,
    )
    final = register_linear(
        subject,
        atlas_brain_t1,
        kind="Affine",
        settings=s.registration,
        fixed_mask=subject_mask,
        initial=first,
    )
    quality: dict[str, Any] = {}
    if s.wm_restricted:
        brain_now = apply_linear(atlas.brain_mask, subject, [final], interpolation="mask")
        subject_wm, tissue_means = segment_white_matter(subject, np.asarray(brain_now.dataobj) > 0)
        final = register_linear(
            subject_wm,
            like(np.asarray(atlas.white_matter.dataobj, dtype=np.float32), atlas.white_matter),
            kind="Affine",
            settings=LinearRegistrationSettings(
                shrink_mm=(4.0, 2.0),
                smoothing_mm=(2.0, 1.0),
                iterations=(100, 50),
                sampling_rate=s.registration.sampling_rate,
                metric="meansquares",
            ),
            fixed_mask=subject_mask,
            initial=final,
        )
        quality.update({f"tissue_{k}": v for k, v in tissue_means.items()})

    # reference point -> subject point -> atlas point (see apply_linear)
    chain = [final] if subject_to_reference is None else [subject_to_reference, final]
    labels = apply_linear(atlas.labels, reference, chain, interpolation="label")
    brain_ref = apply_linear(atlas.brain_mask, reference, chain, interpolation="mask")
    wm_ref = apply_linear(atlas.white_matter, reference, chain, interpolation="mask")
    extras = {
        name: apply_linear(img, reference, chain, interpolation="label")
        for name, img in atlas.extra_labels.items()
    }
    warped_t1 = apply_linear(atlas.t1, subject, [final], interpolation="linear")
    warped_brain = apply_linear(atlas.brain_mask, subject, [final], interpolation="mask")
    quality.update(registration_quality(subject, warped_t1, np.asarray(warped_brain.dataobj) > 0))
    quality["atlas_scale"] = float(abs(np.linalg.det(final.matrix_ras[:3, :3])) ** (1 / 3))
    quality["first_pass_shift_mm"] = float(
        np.linalg.norm(final.matrix_ras[:3, 3] - first.matrix_ras[:3, 3])
    )
    return Propagation(
        labels=like(np.asarray(labels.dataobj), reference, np.uint8),
        brain_mask=like(np.asarray(brain_ref.dataobj) > 0, reference, np.uint8),
        white_matter=like(np.asarray(wm_ref.dataobj) > 0, reference, np.uint8),
        extra_labels={
            k: like(np.asarray(v.dataobj), reference, np.uint8) for k, v in extras.items()
        },
        atlas_to_subject=final,
        quality=quality,
    )
