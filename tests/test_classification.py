"""Classification: DeLong against pROC, CV AUCs, significant features, input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wmhmap.errors import InputError
from wmhmap.stats.classification import (
    Task,
    bootstrap_auc_ci,
    classify,
    cross_validated_probabilities,
    delong_covariance,
    delong_test,
    feature_significance,
)

# pROC's aSAH data (113 patients: 41 "Poor" outcomes = cases, 72 "Good" = controls), as
# rank-equivalent surrogates. AUCs and DeLong statistics depend on the scores only
# through which case outranks which control, i.e. through the DeLong placements. pROC's
# own tests publish those placements for s100b, ndka and wfns, in patient order
# (xrobin/pROC, tests/testthat/helper-deLongPlacementsCpp-expected.R); each surrogate
# case score below is 144 x its placement (2 x the number of controls it outranks, ties
# counting one), and each control score was chosen so that the placements of every
# case and every control reproduce pROC's to 1e-15.
ASAH_CASES = {
    "s100b": [81, 63, 103, 78, 130, 144, 140, 26, 123, 50, 26, 128, 126, 139, 144, 118, 144,
              144, 144, 26, 144, 120, 0, 50, 116, 144, 118, 144, 38, 118, 81, 63, 74, 116,
              144, 88, 144, 121, 144, 144, 130],
    "ndka": [116, 90, 98, 110, 6, 40, 74, 134, 140, 134, 134, 58, 104, 124, 24, 36, 102, 2,
             144, 124, 62, 74, 80, 102, 128, 93, 124, 36, 142, 109, 6, 49, 124, 6, 48, 134,
             76, 104, 138, 74, 110],
    "wfns": [117, 94, 128, 140, 140, 140, 140, 94, 140, 94, 37, 94, 140, 128, 128, 94, 140,
             140, 140, 94, 140, 94, 140, 94, 128, 140, 128, 128, 37, 128, 128, 94, 94, 140,
             140, 94, 94, 140, 140, 140, 140],
}  # fmt: skip
ASAH_CONTROLS = {
    "s100b": [81, 88, 63, 13, 135, 110, 63, 63, 13, 38, 13, 50, 74, 26, 110, 26, 74, 81, 110,
              13, 103, 88, 125, 50, 142, 135, 103, 26, 129, 135, 74, 38, 50, 38, 13, 81, 63,
              88, 96, 13, 13, 50, 13, 50, 38, 103, 50, 38, 123, 74, 119, 26, 63, 121, 26, 13,
              117, 127, 63, 96, 38, 88, 63, 26, 13, 110, 96, 135, 110, 96, 142, 139],
    "ndka": [0, 38, 30, 68, 15, 109, 15, 120, 100, 120, 113, 139, 44, 15, 85, 15, 15, 143, 92,
             54, 54, 120, 4, 30, 15, 49, 96, 30, 107, 136, 30, 15, 85, 44, 30, 96, 131, 126,
             60, 78, 141, 15, 113, 54, 68, 68, 107, 4, 113, 85, 44, 68, 120, 68, 78, 30, 54,
             68, 131, 38, 85, 93, 136, 75, 85, 44, 131, 60, 103, 126, 15, 100],
    "wfns": [37, 37, 37, 37, 140, 37, 94, 94, 37, 94, 94, 37, 37, 37, 94, 37, 94, 37, 37, 117,
             128, 37, 128, 37, 140, 140, 37, 37, 94, 128, 37, 37, 94, 94, 37, 94, 37, 94, 94,
             37, 37, 37, 37, 94, 37, 94, 37, 37, 117, 94, 128, 94, 37, 128, 37, 37, 140, 128,
             94, 94, 37, 37, 37, 117, 37, 94, 94, 128, 128, 37, 37, 37],
}  # fmt: skip
ASAH_OUTCOME = np.r_[np.ones(41, dtype=int), np.zeros(72, dtype=int)]


def asah(marker: str) -> np.ndarray:
    return np.r_[ASAH_CASES[marker], ASAH_CONTROLS[marker]].astype(float)


# pROC tests/testthat/test-roc.test.R: roc.test(a, b) with method "delong" (the default).
PROC_ROC_TEST = [
    # a, b, Z, p, CI of AUC(a) - AUC(b)
    ("ndka", "s100b", -1.39077002573558, 0.164295175223054,
     -0.2876917446341914, 0.0488706064228094),
    ("wfns", "s100b", 2.20898359144091, 0.0271757822291882,
     0.0104061769564846, 0.174214419249478),
    ("wfns", "ndka", 2.79777591868904, 0.00514557970691098,
     0.0634011709339876, 0.3600405634833566),
]  # fmt: skip


@pytest.mark.parametrize(("a", "b", "z", "p", "ci_low", "ci_high"), PROC_ROC_TEST)
def test_delong_matches_proc_on_asah(
    a: str, b: str, z: float, p: float, ci_low: float, ci_high: float
) -> None:
    result = delong_test(ASAH_OUTCOME, asah(a), asah(b))
    assert result.z == pytest.approx(z, rel=1e-9)
    assert result.p == pytest.approx(p, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci_low, ci_high), rel=1e-9)


def test_asah_aucs_match_proc() -> None:
    aucs, _ = delong_covariance(ASAH_OUTCOME, np.vstack([asah("s100b"), asah("ndka")]))
    # pROC: auc(aSAH$outcome, aSAH$s100b) = 0.7314, ndka 0.6120
    assert aucs.tolist() == pytest.approx([0.731368563685637, 0.611957994579946], rel=1e-12)


def slow_delong(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) written out: psi kernel over every case-control pair."""
    cases, controls = scores[:, labels == 1], scores[:, labels == 0]
    m, n = cases.shape[1], controls.shape[1]
    psi = np.zeros((scores.shape[0], m, n))
    for r in range(scores.shape[0]):
        for i in range(m):
            for j in range(n):
                x, y = cases[r, i], controls[r, j]
                psi[r, i, j] = 1.0 if x > y else 0.5 if x == y else 0.0
    aucs = psi.mean(axis=(1, 2))
    v10 = psi.mean(axis=2)  # structural components of the cases
    v01 = psi.mean(axis=1)  # ... and of the controls
    k = scores.shape[0]
    s10, s01 = np.zeros((k, k)), np.zeros((k, k))
    for r in range(k):
        for s in range(k):
            s10[r, s] = np.sum((v10[r] - aucs[r]) * (v10[s] - aucs[s])) / (m - 1)
            s01[r, s] = np.sum((v01[r] - aucs[r]) * (v01[s] - aucs[s])) / (n - 1)
    return aucs, s10 / m + s01 / n


def test_fast_delong_equals_direct_formulas_on_random_data_with_ties() -> None:
    rng = np.random.default_rng(4)
    labels = rng.permutation(np.r_[np.ones(17, dtype=int), np.zeros(26, dtype=int)])
    scores = np.vstack(
        [
            labels + rng.normal(0, 1, labels.size),
            np.round(labels * 0.5 + rng.normal(0, 1, labels.size), 0),  # many ties
            rng.integers(0, 3, labels.size).astype(float),
        ]
    )
    fast_aucs, fast_cov = delong_covariance(labels, scores)
    slow_aucs, slow_cov = slow_delong(labels, scores)
    np.testing.assert_allclose(fast_aucs, slow_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast_cov, slow_cov, rtol=0, atol=1e-12)


def test_delong_of_identical_scores_is_no_difference() -> None:
    result = delong_test(ASAH_OUTCOME, asah("ndka"), asah("ndka"))
    assert (result.difference, result.z, result.p) == (0.0, 0.0, 1.0)


def test_cross_validated_auc_is_one_on_separable_data_and_chance_on_noise() -> None:
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(30, dtype=int), np.zeros(30, dtype=int)]
    separable = np.c_[y * 10.0 + rng.normal(0, 1, y.size), rng.normal(0, 1, y.size)]
    p, folds = cross_validated_probabilities(separable, y, n_repeats=2)
    assert folds == 5
    assert delong_covariance(y, p)[0][0] == 1.0
    noise = rng.normal(0, 1, (y.size, 3))
    p, _ = cross_validated_probabilities(noise, y, n_repeats=2)
    assert 0.35 <= delong_covariance(y, p)[0][0] <= 0.65


def test_folds_shrink_to_the_smallest_class() -> None:
    y = np.r_[np.ones(3, dtype=int), np.zeros(20, dtype=int)]
    features = np.arange(y.size, dtype=float)[:, None]
    _, folds = cross_validated_probabilities(features, y, n_splits=5, n_repeats=1)
    assert folds == 3


def test_bootstrap_ci_is_seeded_and_brackets_the_auc() -> None:
    scores, y = asah("s100b"), ASAH_OUTCOME
    first = bootstrap_auc_ci(y, scores, n_resamples=500, seed=1)
    assert first == bootstrap_auc_ci(y, scores, n_resamples=500, seed=1)
    assert first[0] < 0.7314 < first[1]
    # pROC's stratified bootstrap CI of this AUC is about 0.63-0.83
    assert 0.58 < first[0] < 0.68 and 0.78 < first[1] < 0.88


def test_significant_features_name_the_informative_one() -> None:
    rng = np.random.default_rng(6)
    n = 300
    X = pd.DataFrame(rng.normal(0, 1, (n, 4)), columns=["a", "b", "signal", "c"])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-1.5 * X["signal"]))).astype(int)
    table = feature_significance(X, y)
    assert set(table["approach"]) == {"multivariable (Wald)"}  # 4 coefficients, ~150 per class
    assert table.loc[table["significant_fdr"], "feature"].tolist() == ["signal"]
    assert table.set_index("feature").loc["signal", "coef"] > 0
    assert list(table.columns) == [
        "feature", "approach", "coef", "se", "z", "p", "p_fdr", "significant", "significant_fdr"
    ]  # fmt: skip


def test_many_features_few_subjects_fall_back_to_univariable_models() -> None:
    rng = np.random.default_rng(7)
    y = np.r_[np.ones(20, dtype=int), np.zeros(20, dtype=int)]
    X = pd.DataFrame(rng.normal(0, 1, (40, 34)), columns=[f"region_{i:02d}" for i in range(1, 35)])
    X["region_07"] += 1.5 * y
    X["region_20"] = 0.0  # no lesion there in anyone
    X["age"] = rng.normal(70, 5, 40)
    table = feature_significance(X, y, adjust_for=["age"])
    assert "age" not in table["feature"].tolist()
    assert len(table) == 34
    row = table.set_index("feature").loc["region_20"]
    assert row["approach"] == "constant (not tested)" and np.isnan(row["p"])
    assert set(table["approach"]) == {"univariable (LR test)", "constant (not tested)"}
    ranked = table.sort_values("p", kind="stable")
    assert ranked.iloc[0]["feature"] == "region_07" and ranked.iloc[0]["significant_fdr"]
    assert ranked.iloc[0]["z"] > 0


def test_separating_feature_gets_a_likelihood_ratio_p_value() -> None:
    y = np.r_[np.ones(10, dtype=int), np.zeros(10, dtype=int)]
    X = pd.DataFrame({"region_01": np.r_[np.arange(10, 20), np.arange(10)].astype(float)})
    row = feature_significance(X, y).iloc[0]
    assert row["approach"] == "univariable, separated (LR test)"
    assert np.isnan(row["coef"]) and row["p"] < 1e-6 and row["significant"]
    assert row["z"] > 0  # the direction survives: more load, more likely positive
    assert row["z"] ** 2 == pytest.approx(2 * 20 * np.log(2))  # LR of a perfect fit: -2 llnull


def make_cohort(n_per_class: int = 12, n_regions: int = 6, seed: int = 0):
    """AD: more lesion in region 1 and smaller hippocampus; MCI in between; CN none."""
    rng = np.random.default_rng(seed)
    diagnosis = np.repeat(["CN", "MCI", "AD"], n_per_class)
    effect = np.repeat([0.0, 1.0, 2.0], n_per_class)
    subjects = [f"{i:03d}" for i in range(diagnosis.size)]
    regional = rng.gamma(2.0, 50.0, (diagnosis.size, n_regions))
    regional[:, 0] += 150.0 * effect
    wide = pd.DataFrame(regional, columns=[f"region_{i:02d}" for i in range(1, n_regions + 1)])
    wide.insert(0, "subject", subjects)
    wide["outside_mm3"] = rng.gamma(2.0, 20.0, diagnosis.size)
    wide["global_mm3"] = wide.filter(like="region_").sum(axis=1) + wide["outside_mm3"]
    meta = pd.DataFrame(
        {
            "subject": subjects,
            "diagnosis": diagnosis,
            "site": "s1",
            "age": rng.normal(72, 5, diagnosis.size),
            "sex": rng.choice(["M", "F"], diagnosis.size),
            "reference_wmh_ml": wide["global_mm3"] / 1000,
        }
    )
    brain = pd.DataFrame(
        {
            "subject": subjects,
            "hippocampus_mm3": 7000 - 600 * effect + rng.normal(0, 300, diagnosis.size),
            "csf_mm3": rng.normal(3e5, 2e4, diagnosis.size),
            "gm_mm3": rng.normal(6e5, 3e4, diagnosis.size),
            "wm_mm3": rng.normal(5e5, 3e4, diagnosis.size),
            "icv_mm3": rng.normal(1.5e6, 1e5, diagnosis.size),
        }
    )
    return wide, meta, brain


FAST = {"n_splits": 3, "n_repeats": 1, "n_bootstrap": 200}


def test_classify_returns_tidy_tables() -> None:
    wide, meta, brain = make_cohort()
    results = classify(wide, meta, brain, covariates=["age", "sex", "icv"], seed=3, **FAST)
    assert list(results.auc.columns) == [
        "task", "feature_set", "n_pos", "n_neg", "n_splits", "auc", "ci_low", "ci_high"
    ]  # fmt: skip
    assert len(results.auc) == 12
    assert (results.auc[["n_pos", "n_neg"]] == 12).all().all()
    ad_cn = results.auc.set_index(["task", "feature_set"]).loc["AD vs CN"]
    assert ad_cn.loc["regional+brain", "auc"] > 0.9
    assert (results.auc["ci_low"] <= results.auc["auc"]).all()
    assert (results.auc["auc"] <= results.auc["ci_high"]).all()
    assert set(results.roc.columns) >= {"task", "feature_set", "fpr", "tpr"}
    assert len(results.delong) == 9  # 3 tasks x 3 default comparisons
    coefs = results.coefficients
    regional = coefs[(coefs["task"] == "AD vs CN") & (coefs["feature_set"] == "regional")]
    assert regional["feature"].tolist() == [f"region_{i:02d}" for i in range(1, 7)]
    assert regional.set_index("feature").loc["region_01", "significant"]
    assert len(results.predictions) == 12 * 24


def test_classify_is_deterministic_for_a_seed() -> None:
    wide, meta, brain = make_cohort(seed=1)
    options = {**FAST, "n_repeats": 2, "tasks": ["AD vs MCI"]}
    first = classify(wide, meta, brain, seed=7, feature_sets=["global", "brain"], **options)
    second = classify(wide, meta, brain, seed=7, feature_sets=["global", "brain"], **options)
    for name in ("auc", "roc", "delong", "coefficients", "predictions"):
        a, b = getattr(first, name), getattr(second, name)
        pd.testing.assert_frame_equal(a, b)
        assert a.to_csv(index=False) == b.to_csv(index=False)


def test_subjects_without_diagnosis_are_in_no_task() -> None:
    wide, meta, _ = make_cohort()
    meta.loc[0, "diagnosis"] = np.nan
    results = classify(
        wide, meta, tasks=["MCI vs CN"], feature_sets=["global"], comparisons=(), **FAST
    )
    assert results.auc.loc[0, "n_neg"] == 11 and results.delong.empty


def test_class_with_fewer_than_two_subjects_is_an_error() -> None:
    wide, meta, _ = make_cohort()
    meta.loc[meta["diagnosis"] == "AD", "diagnosis"] = ["AD"] + ["MCI"] * 11
    with pytest.raises(InputError, match=r"AD vs CN: class AD has 1 subject"):
        classify(wide, meta, tasks=["AD vs CN"], feature_sets=["global"], **FAST)


def test_missing_feature_column_is_an_error() -> None:
    wide, meta, brain = make_cohort()
    with pytest.raises(InputError, match="hippocampus_mm3"):
        classify(wide, meta, brain.drop(columns="hippocampus_mm3"), **FAST)
    with pytest.raises(InputError, match="global_mm3"):
        classify(wide.drop(columns="global_mm3"), meta, feature_sets=["global"], **FAST)
    with pytest.raises(InputError, match="need brain-structure volumes"):
        classify(wide, meta, feature_sets=["brain"], **FAST)
    with pytest.raises(InputError, match="unknown feature set"):
        classify(wide, meta, feature_sets=["everything"], **FAST)


def test_task_names_are_parsed_and_checked() -> None:
    assert Task.parse("ad vs cn") == Task("AD", "CN")
    with pytest.raises(InputError, match="POSITIVE vs NEGATIVE"):
        Task.parse("AD-CN")
