"""Calibrated load intervals (wmhmap.intervals): the conformal quantile, its coverage on
exchangeable data, the interval's shape, and which fold held a training subject out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from wmhmap.errors import InputError
from wmhmap.intervals import (
    INTERVAL_COLUMNS,
    IntervalSettings,
    calibrate_intervals,
    conformal_quantile,
    held_out_coverage,
    interval_scores,
    with_intervals,
)
from wmhmap.nnunet.datasets import grouped_splits, held_out_fold


def test_the_conformal_quantile_is_the_rank_the_definition_names():
    rng = np.random.default_rng(0)
    for n in (4, 9, 10, 57, 200):
        scores = rng.exponential(size=n)
        for coverage in (0.5, 0.8, 0.9):
            k = math.ceil((n + 1) * coverage)
            expected = sorted(scores)[k - 1] if k <= n else math.inf
            assert conformal_quantile(scores, coverage) == expected
    assert conformal_quantile([], 0.8) == math.inf


def test_a_new_score_falls_under_the_quantile_as_often_as_promised():
    """Exchangeable scores: P(new <= q) lies in [coverage, coverage + 1 / (n + 1)]
    (Vovk et al. 2005); 4,000 draws of 20 calibration scores and one new score."""
    rng = np.random.default_rng(1)
    n, coverage, trials = 20, 0.8, 4000
    hits = 0
    for _ in range(trials):
        scores = rng.lognormal(size=n + 1)
        hits += scores[-1] <= conformal_quantile(scores[:-1], coverage)
    share = hits / trials
    # the bound +/- 3 binomial standard errors
    se = math.sqrt(coverage * (1 - coverage) / trials)
    assert coverage - 3 * se <= share <= coverage + 1 / (n + 1) + 3 * se


def test_intervals_hold_the_expert_load_on_a_cohort_with_relative_errors():
    """Loads measured with a 20 % relative error (and misses): calibrated on 30
    training subjects' held-out loads, the intervals of 30 other subjects hold the
    expert's load at the promised rate, and are narrower than a fixed +/- 100 %."""
    rng = np.random.default_rng(2)

    def cohort(first: int, held_out: bool) -> pd.DataFrame:
        rows = []
        for s in range(first, first + 30):
            truth = rng.gamma(1.5, 400.0, size=20) * (rng.random(20) < 0.7)
            measured = truth * np.exp(rng.normal(0, 0.2, size=20))
            rows.append(
                pd.DataFrame(
                    {
                        "subject": f"s{s:02d}",
                        "scheme": "jhu34",
                        "region_id": np.arange(1, 21),
                        "lesion_mm3": measured,
                        "held_out_mm3": measured if held_out else np.nan,
                        "reference_mm3": truth,
                    }
                )
            )
        return pd.concat(rows, ignore_index=True)

    training, others = cohort(0, True), cohort(30, False)
    calibration = calibrate_intervals(training, IntervalSettings(0.8, 30.0))
    assert calibration.subjects.item() == 30
    assert calibration.pairs.item() == int((training.held_out_mm3 > 0).sum())
    out = with_intervals(others, calibration)
    coverage = held_out_coverage(out, min_mm3=100.0)
    assert coverage.pairs.item() == int((others.reference_mm3 >= 100).sum())
    assert 0.75 <= coverage.covered.item() <= 0.9
    loaded = out[out.reference_mm3 >= 100]
    width = (loaded.interval_high_mm3 - loaded.interval_low_mm3) / loaded.lesion_mm3
    assert 0.3 < width.median() < 1.0


def test_an_interval_holds_the_load_and_the_folds_range_and_stays_positive():
    long = pd.DataFrame(
        {
            "scheme": ["jhu34"] * 4 + ["bullseye"],
            "lesion_mm3": [200.0, 10.0, 0.0, 500.0, 40.0],
            "fold_min_mm3": [150.0, 0.0, 0.0, 480.0, 0.0],
            "fold_max_mm3": [400.0, 12.0, 0.0, 520.0, 80.0],
        }
    )
    calibration = pd.DataFrame(
        {"scheme": ["jhu34", "pvdeep"], "floor_mm3": [30.0, 30.0], "quantile": [0.5, 0.2]}
    )
    out = with_intervals(long, calibration)
    low, high = out.interval_low_mm3, out.interval_high_mm3
    # 200 -/+ 0.5 x 230 = [85, 315], widened to the folds' 400
    assert (low[0], high[0]) == (85.0, 400.0)
    # 10 -/+ 0.5 x 40: the lower end stops at 0
    assert (low[1], high[1]) == (0.0, 30.0)
    assert (low[2], high[2]) == (0.0, 15.0)
    assert (low[3], high[3]) == (235.0, 765.0)
    # a scheme the calibration does not know has no interval
    assert np.isnan(low[4]) and np.isnan(high[4])
    assert list(out.columns[-2:]) == list(INTERVAL_COLUMNS)


def test_each_scheme_is_calibrated_on_its_own_training_pairs():
    long = pd.DataFrame(
        {
            "subject": ["a", "a", "b", "b", "c", "a", "b"],
            "scheme": ["jhu34"] * 5 + ["pvdeep"] * 2,
            "region_id": [1, 2, 1, 2, 1, 1, 1],
            "held_out_mm3": [100.0, 0.0, 50.0, 0.0, np.nan, 300.0, 100.0],
            "reference_mm3": [120.0, 0.0, 50.0, 20.0, 80.0, 200.0, 100.0],
        }
    )
    calibration = calibrate_intervals(long, IntervalSettings(0.5, 10.0)).set_index("scheme")
    # jhu34: pairs (100, 120), (50, 50), (0, 20); the 0/0 row and subject c (no held-out
    # fold: not a training subject) do not count
    assert calibration.loc["jhu34", "pairs"] == 3 and calibration.loc["jhu34", "subjects"] == 2
    scores = sorted(interval_scores([100.0, 50.0, 0.0], [120.0, 50.0, 20.0], 10.0))
    assert calibration.loc["jhu34", "quantile"] == scores[math.ceil(4 * 0.5) - 1]
    assert calibration.loc["pvdeep", "quantile"] == sorted([100 / 310, 0.0])[1]
    # too few pairs for the coverage: no quantile, and no interval
    few = calibrate_intervals(long, IntervalSettings(0.9, 10.0)).set_index("scheme")
    assert np.isnan(few.loc["pvdeep", "quantile"])


def test_interval_settings_refuse_impossible_values():
    for bad in ({"coverage": 0.0}, {"coverage": 1.2}, {"floor_mm3": 0.0}):
        with pytest.raises(InputError, match=r"Fix: set loads\.interval"):
            IntervalSettings(**bad)


def test_every_training_subject_is_held_out_by_exactly_one_fold():
    cases = {f"{s}_{m}": s for s in "abcdefg" for m in ("FLAIR", "T1w")}
    splits = grouped_splits(cases, 3, seed=5)
    folds = {s: held_out_fold(splits, cases, s) for s in "abcdefg"}
    for s, k in folds.items():
        assert {f"{s}_FLAIR", f"{s}_T1w"} <= set(splits[k]["val"])
        assert not {f"{s}_FLAIR", f"{s}_T1w"} & set(splits[k]["train"])
    assert sorted(set(folds.values())) == [0, 1, 2]
    assert held_out_fold(splits, cases, "z") is None
    broken = [{"train": [], "val": ["a_FLAIR"]}, {"train": [], "val": ["a_T1w"]}]
    with pytest.raises(InputError, match="not grouped by subject"):
        held_out_fold(broken, cases, "a")
