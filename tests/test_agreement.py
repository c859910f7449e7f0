"""Bland-Altman agreement: hand-computed and simulated known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wmhmap.errors import InputError
from wmhmap.stats.agreement import bland_altman, validation_table


def test_tiny_case_matches_hand_computation() -> None:
    # differences 1, 2, 1, 2: bias 1.5, sd sqrt(1/3); means 1.5, 3, 3.5, 5.
    ba = bland_altman([2.0, 4.0, 4.0, 6.0], [1.0, 2.0, 3.0, 4.0])
    sd = np.sqrt(1 / 3)
    z, t3 = 1.959963984540054, 3.182446305284263  # normal 0.975 and t(3) 0.975 quantiles
    assert ba.n == 4 and ba.n_missing == 0
    assert ba.bias == pytest.approx(1.5)
    assert ba.sd == pytest.approx(sd)
    assert (ba.lower, ba.upper) == pytest.approx((1.5 - z * sd, 1.5 + z * sd))
    assert (ba.bias_ci_low, ba.bias_ci_high) == pytest.approx(
        (1.5 - t3 * sd / 2, 1.5 + t3 * sd / 2)
    )
    # Bland & Altman (1999): SE of a limit = sqrt(3 sd^2 / n) = sqrt(3 * (1/3) / 4) = 0.5
    assert (ba.upper_ci_low, ba.upper_ci_high) == pytest.approx(
        (1.5 + z * sd - t3 * 0.5, 1.5 + z * sd + t3 * 0.5)
    )
    assert (ba.lower_ci_low, ba.lower_ci_high) == pytest.approx(
        (1.5 - z * sd - t3 * 0.5, 1.5 - z * sd + t3 * 0.5)
    )
    # OLS of differences on means: Sxy = 1.5, Sxx = 6.25
    assert ba.slope == pytest.approx(0.24)
    assert ba.intercept == pytest.approx(1.5 - 0.24 * 3.25)
    assert ba.bias_percent == pytest.approx(100 * 1.5 / 3.25)
    assert np.isnan(ba.ratio_bias)


def test_known_offset_and_spread() -> None:
    rng = np.random.default_rng(1)
    reference = rng.uniform(1.0, 30.0, 2000)
    predicted = reference + 2.0 + rng.normal(0.0, 0.5, reference.size)
    ba = bland_altman(predicted, reference)
    assert ba.bias == pytest.approx(2.0, abs=0.05)
    assert ba.sd == pytest.approx(0.5, abs=0.03)
    assert ba.lower == pytest.approx(2.0 - 0.98, abs=0.07)
    assert ba.upper == pytest.approx(2.0 + 0.98, abs=0.07)
    assert ba.bias_ci_low < 2.0 < ba.bias_ci_high
    assert ba.upper_ci_low < ba.upper < ba.upper_ci_high
    assert abs(ba.slope) < 0.01 and ba.slope_p > 0.01


def test_proportional_bias_is_detected() -> None:
    rng = np.random.default_rng(2)
    reference = rng.uniform(1.0, 30.0, 300)
    predicted = 1.2 * reference + rng.normal(0.0, 0.2, reference.size)
    ba = bland_altman(predicted, reference)
    # difference 0.2 r against mean 1.1 r: slope 0.2 / 1.1
    assert ba.slope == pytest.approx(0.2 / 1.1, abs=0.01)
    assert ba.slope_p < 1e-10


def test_log_scale_reports_ratio_limits() -> None:
    rng = np.random.default_rng(3)
    reference = rng.uniform(1.0, 30.0, 500)
    predicted = 1.1 * reference * np.exp(rng.normal(0.0, 0.05, reference.size))
    ba = bland_altman(predicted, reference, log=True)
    assert ba.ratio_bias == pytest.approx(1.1, abs=0.01)
    assert ba.ratio_lower == pytest.approx(1.1 * np.exp(-1.96 * 0.05), abs=0.02)
    assert ba.ratio_upper == pytest.approx(1.1 * np.exp(1.96 * 0.05), abs=0.02)
    assert ba.bias_percent == pytest.approx(10.0, abs=1.0)
    assert abs(ba.slope) < 0.02  # a pure ratio is no proportional bias on the log scale


def test_log_scale_refuses_zero_volumes_unless_offset() -> None:
    with pytest.raises(InputError, match=r"zero volume.*log_offset"):
        bland_altman([0.0, 1.0, 2.0, 3.0], [0.5, 1.0, 2.0, 3.0], log=True)
    ba = bland_altman([0.0, 1.0, 2.0, 3.0], [0.5, 1.0, 2.0, 3.0], log=True, log_offset=1.0)
    assert ba.differences[0] == pytest.approx(np.log1p(0.0) - np.log1p(0.5))


def test_missing_pairs_are_left_out_and_counted() -> None:
    ba = bland_altman([2.0, 4.0, np.nan, 4.0, 6.0], [1.0, 2.0, 5.0, 3.0, 4.0])
    assert (ba.n, ba.n_missing, ba.bias) == (4, 1, 1.5)
    assert ba.used.tolist() == [True, True, False, True, True]
    table = ba.as_table()
    assert len(table) == 1 and table.loc[0, "bias"] == 1.5


def test_too_few_or_mismatched_inputs_are_errors() -> None:
    with pytest.raises(InputError, match="at least 3"):
        bland_altman([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(InputError, match="differ in length"):
        bland_altman([1.0, 2.0, 3.0], [1.0, 2.0])


def test_validation_table_joins_on_subject_ids_as_text() -> None:
    wide = pd.DataFrame({"subject": [1, 2, 3], "global_mm3": [1500.0, 0.0, 250.0]})
    meta = pd.DataFrame(
        {
            "subject": ["1", "2", "4"],
            "diagnosis": ["AD", "CN", "MCI"],
            "reference_wmh_ml": [1.2, np.nan, 3.0],
        }
    )
    table = validation_table(wide, meta)
    assert table["subject"].tolist() == ["1", "2"]
    assert table["predicted_ml"].tolist() == [1.5, 0.0]
    assert table["diagnosis"].tolist() == ["AD", "CN"]
    assert table["site"].isna().all()
    with pytest.raises(InputError, match="reference_wmh_ml"):
        validation_table(wide, meta.drop(columns="reference_wmh_ml"))
