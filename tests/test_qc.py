"""Registration QC: each flag names its measure, and thresholds come from the config."""

import numpy as np
import pytest

from wmhmap.qc import QcThresholds, region_volume_ratios, registration_flags

GOOD = {
    "brain_dice": 0.95,
    "correlation": 0.45,
    "icv_ml": 1450.0,
    "region_ratio_min": 0.6,
    "region_min": 24,
    "region_ratio_max": 1.3,
    "region_max": 3,
}


def test_a_good_fit_has_no_flags():
    assert registration_flags(GOOD, QcThresholds()) == []


@pytest.mark.parametrize(
    "change, measure, words",
    [
        ({"brain_dice": 0.82}, "brain_dice", "brain overlap 0.82 < 0.90"),
        ({"correlation": 0.02}, "correlation", "T1w correlation 0.02 < 0.10"),
        ({"icv_ml": 2570.0}, "icv_ml", "ICV 2570 mL outside 900-2200 mL"),
        ({"icv_ml": 640.0}, "icv_ml", "ICV 640 mL outside"),
        ({"region_ratio_min": 0.05}, "region_ratio_min", "region 24 volume 0.05"),
        ({"region_ratio_max": 5.5}, "region_ratio_max", "region 3 volume 5.50"),
    ],
)
def test_each_problem_is_flagged_with_its_measure(change, measure, words):
    (flag,) = registration_flags({**GOOD, **change}, QcThresholds())
    assert flag.measure == measure and words in flag.reason


def test_a_flair_fit_is_not_judged_by_its_t1w_correlation():
    flair = {**GOOD, "correlation": float("nan")}
    assert registration_flags(flair, QcThresholds()) == []


def test_thresholds_come_from_the_config_section():
    qc = {
        "min_brain_dice": 0.97,
        "min_correlation": 0.5,
        "icv_ml": [1000, 1400],
        "region_volume_ratio": [0.7, 1.2],
    }
    flags = registration_flags(GOOD, QcThresholds.from_config(qc))
    assert {f.measure for f in flags} == {
        "brain_dice",
        "correlation",
        "icv_ml",
        "region_ratio_min",
        "region_ratio_max",
    }


def test_region_volume_ratios_compare_shares_of_the_icv():
    atlas = np.zeros(100, int)
    atlas[:10], atlas[10:30] = 1, 2  # shares 0.1 and 0.2 of a 100-voxel brain
    subject = np.zeros(50, int)
    subject[:10], subject[10:12] = 1, 2  # shares 0.2 and 0.04 of a 50-voxel brain
    ratios = region_volume_ratios(subject, 50, atlas, 100, np.array([1, 2, 3]))
    np.testing.assert_allclose(ratios[:2], [2.0, 0.2])
    assert np.isnan(ratios[2])  # region 3 is in neither
