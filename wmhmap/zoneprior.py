"""The atlas's zone prior: where the lateral ventricles, the deep grey matter and the
infratentorial structures lie in the atlas (``tpl-*_desc-zones_dseg``, built with the
atlas). :mod:`wmhmap.zones` carries it onto each subject.

Kept apart from :mod:`wmhmap.zones` so that a change to how zones are drawn reruns the
zone maps, not the atlas build and everything after it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

VENTRICLES, DEEP_GREY, INFRATENTORIAL = 1, 2, 3
PRIOR_LABELS = {VENTRICLES: "lateral ventricles", DEEP_GREY: "basal ganglia and thalamus"}
PRIOR_LABELS[INFRATENTORIAL] = "infratentorial (cerebellum and brainstem)"
"""Labels of the zone prior."""

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
LabelArray = npt.NDArray[np.uint8]


def largest_components(mask: BoolArray, share: float) -> BoolArray:
    """Components of ``mask`` (26-connected) holding at least ``share`` of the largest."""
    components, n = ndi.label(mask, structure=np.ones((3, 3, 3)))
    if n == 0:
        return mask
    sizes = np.bincount(components.ravel())[1:]
    return np.isin(components, np.flatnonzero(sizes >= share * sizes.max()) + 1)


JHU_DEEP_GREY = (59, 60, 61, 62)
"""Caudate, putamen, thalamus, globus pallidus (left; right = + 65) in JHU type II."""
JHU_INFRATENTORIAL = (28, 29, 30, 31, 32, 49, 50, 56, 57, 63, 64, 65)
"""Cerebellum, brainstem tracts and nuclei, midbrain, pons, medulla (left; right + 65)."""
VENTRICLE_DEPTH_MM = 12.0
"""The atlas's lateral ventricles lie deeper than this inside its brain mask."""
MIDLINE_CSF_MM = 6.0
"""CSF with infratentorial structures of *both* hemispheres this close is the aqueduct,
the fourth ventricle or the floor of the third, not a lateral ventricle (a temporal
horn has them on one side only)."""


def _right_twins(labels: Sequence[int], offset: int = 65) -> tuple[int, ...]:
    return (*labels, *(label + offset for label in labels))


def jhu_zone_prior(
    type2_labels: npt.ArrayLike,
    tissue_classes: npt.ArrayLike,
    brain: npt.ArrayLike,
    zooms: Sequence[float],
) -> LabelArray:
    """The zone prior of the JHU "Eve" atlas (labels :data:`PRIOR_LABELS`).

    Ventricles: CSF (tissue class 1) that no type II label covers, deeper than
    :data:`VENTRICLE_DEPTH_MM` in the brain and not between the infratentorial
    structures of the two hemispheres (:data:`MIDLINE_CSF_MM`), its largest component:
    the lateral ventricles (14 mL in Eve; the fourth ventricle and the aqueduct, 2 mL,
    joined them through the third before).
    """
    labels = np.asarray(type2_labels)
    b = np.asarray(brain, bool)
    csf = (np.asarray(tissue_classes) == 1) & (labels == 0) & b
    deep = ndi.distance_transform_edt(b, sampling=zooms) > VENTRICLE_DEPTH_MM
    left, right = JHU_INFRATENTORIAL, tuple(label + 65 for label in JHU_INFRATENTORIAL)
    midline = np.ones(labels.shape, dtype=bool)
    for side in (left, right):
        midline &= ndi.distance_transform_edt(~np.isin(labels, side), sampling=zooms) <= (
            MIDLINE_CSF_MM
        )
    ventricles = largest_components(csf & deep & ~midline, 1.0)
    prior = np.zeros(labels.shape, dtype=np.uint8)
    prior[np.isin(labels, _right_twins(JHU_DEEP_GREY))] = DEEP_GREY
    prior[np.isin(labels, _right_twins(JHU_INFRATENTORIAL))] = INFRATENTORIAL
    prior[ventricles] = VENTRICLES
    return prior


DEMO_DEEP_GREY_BOX_MM = ((0.0, 32.0), (-34.0, 26.0), (-8.0, 20.0))
"""|x|, y, z ranges (MNI mm) of the basal ganglia and thalami in the MNI152 template."""


def demo_zone_prior(
    ventricles: npt.ArrayLike,
    grey: npt.ArrayLike,
    infratentorial: npt.ArrayLike,
    world: FloatArray,
) -> LabelArray:
    """The demo atlas's zone prior: its lateral ventricles, grey matter (probability
    > 0.5) inside :data:`DEMO_DEEP_GREY_BOX_MM` and its infratentorial white matter.
    ``world`` holds every voxel's MNI coordinates (..., 3)."""
    (ax_lo, ax_hi), (y_lo, y_hi), (z_lo, z_hi) = DEMO_DEEP_GREY_BOX_MM
    x, y, z = world[..., 0], world[..., 1], world[..., 2]
    box = (np.abs(x) >= ax_lo) & (np.abs(x) <= ax_hi) & (y >= y_lo) & (y <= y_hi)
    box &= (z >= z_lo) & (z <= z_hi)
    prior = np.zeros(np.asarray(ventricles).shape, dtype=np.uint8)
    prior[box & (np.asarray(grey) > 0.5)] = DEEP_GREY
    prior[np.asarray(infratentorial, bool)] = INFRATENTORIAL
    prior[np.asarray(ventricles, bool)] = VENTRICLES
    return prior
