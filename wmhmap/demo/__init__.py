"""The embedded demo: a synthetic cohort with ground truth, made from the MNI152 template."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from wmhmap.demo.simulate import (
    AnatomyModel,
    LesionModel,
    ScannerProfile,
    randomised_profile,
    scanner_profiles,
)


def models_from_config(
    demo: Mapping[str, Any], site: str, seed: int | None = None
) -> tuple[ScannerProfile, LesionModel, AnatomyModel]:
    """Scanner, lesion and anatomy models of one subject from the ``demo:`` config section.

    The scanner is its site's (``scanners: sites``) or, with ``scanners: randomised``,
    one drawn for the subject from its simulation ``seed`` (:func:`randomised_profile`),
    which must then be given.
    """
    t1 = tuple(float(v) for v in demo["t1_voxel_mm"])
    flair = tuple(float(v) for v in demo["flair_voxel_mm"])
    profiles = scanner_profiles(
        (t1[0], t1[1], t1[2]), (flair[0], flair[1], flair[2]), demo["n_sites"]
    )
    lesions = demo.get("lesions", {})
    defaults = LesionModel()
    lesion_model = LesionModel(
        median_ml=dict(lesions.get("median_ml", defaults.median_ml)),
        signal_ml=dict(lesions.get("signal_ml", defaults.signal_ml)),
        signal_regions=tuple(lesions.get("signal_regions", defaults.signal_regions)),
    )
    anatomy = AnatomyModel(deformation_mm=float(demo.get("deformation_mm", 1.0)))
    if demo.get("scanners", "sites") == "randomised":
        if seed is None:
            raise ValueError("demo.scanners: randomised draws each subject's scanner from its seed")
        return randomised_profile(np.random.default_rng([seed, 7])), lesion_model, anatomy
    return profiles[site], lesion_model, anatomy
