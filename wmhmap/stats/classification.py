"""Which lesion measures tell AD, MCI and CN apart (classification, stage 6).

Three binary tasks (``"AD vs CN"``, ``"AD vs MCI"``, ``"MCI vs CN"``; the first-named
class is the positive one) are each tried with four feature sets: ``global`` (global
lesion volume), ``regional`` (the regional loads), ``brain`` (hippocampus, CSF, GM and WM
volumes) and ``regional+brain``. Covariates (``age``, ``sex``, ``icv``) can be appended to
every set.

Design
------
- **Model.** ``StandardScaler`` + L2-penalised ``LogisticRegression`` in one scikit-learn
  pipeline, so scaling is learnt inside each training fold. The penalty is fixed
  (``C = 1`` on standardised features by default, i.e. a unit-variance Gaussian prior
  on each per-SD log-odds coefficient): with 34 regional loads and tens of subjects an
  unpenalised fit separates the training data and its out-of-fold predictions are
  noise, while choosing ``C`` by nested CV on so few subjects is itself unstable.
  ``C`` is a parameter for studies that want another value.
- **Validation.** Repeated stratified K-fold CV (seeded; the same folds for every feature
  set of a task, so AUCs are paired). Folds shrink to the smallest class size; a class
  with fewer than 2 subjects is an error. Each subject's out-of-fold probability is the
  mean over repeats; the ROC curve and AUC are computed from these, the AUC's CI by a
  seeded stratified bootstrap of the out-of-fold predictions (percentile interval).
- **Comparing feature sets.** DeLong's test for two correlated AUCs, in the fast
  formulation of Sun & Xu (2014, IEEE Signal Process Lett 21:1389), on the out-of-fold
  probabilities of the same subjects.
- **Which features drive a task.** statsmodels ``Logit`` on features standardised over
  the task's subjects (coefficients are log-odds per SD). The joint (multivariable) model
  is fitted only when it is estimable: at least 10 subjects of the smaller class per
  parameter (Peduzzi et al. 1996) and no separation. Otherwise - the usual case for the
  regional set - each feature gets its own univariable model (adjusted for the
  covariates when requested), which answers "is this region's load associated with the
  diagnosis?". Univariable p-values come from likelihood-ratio tests (``z`` is the
  signed root of the LR statistic): unlike Wald tests they keep their power for large
  effects and stay defined when a feature separates the classes, whose row then has a
  NaN coefficient and SE. The joint model uses Wald tests. P-values are
  corrected with Benjamini-Hochberg FDR within each task and feature set, and the
  ``approach`` column records which model produced each row.

Subjects with a missing diagnosis are in no task. Within a task, subjects lacking any
value used by a requested feature set are left out of every feature set of that task, so
all of its AUCs are computed on the same subjects.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationWarning,
)

from wmhmap.errors import InputError
from wmhmap.stats import region_columns as find_region_columns
from wmhmap.stats import require_columns, with_subject_ids

TASKS = ("AD vs CN", "AD vs MCI", "MCI vs CN")
FEATURE_SETS = ("global", "regional", "brain", "regional+brain")
ZONE_FEATURE_SETS = ("pvdeep", "bullseye")
"""Feature sets of the zone schemes: every ``<scheme>_NN`` column of the loads table
(the zone wide tables merged in, :func:`with_zone_loads`)."""
BRAIN_COLUMNS = ("hippocampus_mm3", "csf_mm3", "gm_mm3", "wm_mm3")
COVARIATES = {"age": "age", "sex": "sex_female", "icv": "icv_mm3"}
"""Covariate name -> its column in the cohort table (``sex_female``: 1 for F, 0 for M)."""
COMPARISONS = (("regional", "global"), ("regional+brain", "brain"), ("regional+brain", "regional"))
"""Default DeLong comparisons (first minus second), run when both sets are requested."""

MIN_EVENTS_PER_PARAMETER = 10
"""Subjects of the smaller class per coefficient before a joint Logit is trusted."""
_DIVERGED_COEF = 15.0
"""A log-odds per SD this large means quasi-separation, not an estimate."""

SignificanceMethod = Literal["auto", "multivariable", "univariable"]


@dataclass(frozen=True)
class Task:
    """A binary task; ``positive`` is the class whose probability is predicted."""

    positive: str
    negative: str

    @property
    def name(self) -> str:
        return f"{self.positive} vs {self.negative}"

    @classmethod
    def parse(cls, text: str) -> Task:
        """Parse ``"AD vs CN"`` (case-insensitive; class names are upper-cased like diagnoses).

        Examples
        --------
        >>> Task.parse("AD vs MCI")
        Task(positive='AD', negative='MCI')
        """
        parts = text.replace(" VS ", " vs ").split(" vs ")
        if len(parts) != 2 or not all(p.strip() for p in parts) or parts[0] == parts[1]:
            raise InputError(
                f"task {text!r} is not of the form 'POSITIVE vs NEGATIVE'",
                fix="write tasks like 'AD vs CN' (the first class is the positive one)",
            )
        return cls(parts[0].strip().upper(), parts[1].strip().upper())


@dataclass(frozen=True)
class DeLongResult:
    """DeLong test of ``auc_a - auc_b`` on the same subjects."""

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class ClassificationResults:
    """Tidy tables of :func:`classify`.

    - ``auc``: task, feature_set, n_pos, n_neg, n_splits, auc, ci_low, ci_high
    - ``roc``: task, feature_set, fpr, tpr, threshold
    - ``delong``: task, feature_set_a, feature_set_b, auc_a, auc_b, difference, se, z, p,
      ci_low, ci_high
    - ``coefficients``: task, feature_set, feature, approach, n, coef, se, z, p, p_fdr,
      significant, significant_fdr
    - ``predictions``: task, feature_set, subject, diagnosis, label, probability
    """

    auc: pd.DataFrame
    roc: pd.DataFrame
    delong: pd.DataFrame
    coefficients: pd.DataFrame
    predictions: pd.DataFrame


def cohort_table(
    wide: pd.DataFrame,
    meta: pd.DataFrame,
    brain: pd.DataFrame | None = None,
    *,
    covariates: Sequence[str] = (),
) -> pd.DataFrame:
    """Join loads, sample sheet and brain volumes into one row per subject.

    Returns ``subject``, ``diagnosis`` (upper case, NaN when missing), the loads columns,
    the brain columns when ``brain`` is given, and the requested covariate columns
    (``age``, ``sex_female``, ``icv_mm3``). Only subjects present in every table are kept.
    """
    unknown = sorted(set(covariates) - set(COVARIATES))
    if unknown:
        raise InputError(
            f"unknown covariate(s) {', '.join(unknown)}",
            fix=f"choose among {', '.join(COVARIATES)}",
        )
    loads = with_subject_ids(wide, table_name="loads table")
    sheet_columns = ["subject", "diagnosis"] + [c for c in ("age", "sex") if c in covariates]
    require_columns(meta, sheet_columns, table_name="sample sheet")
    sheet = with_subject_ids(meta, table_name="sample sheet")[sheet_columns]
    sheet["diagnosis"] = sheet["diagnosis"].where(
        sheet["diagnosis"].isna(), sheet["diagnosis"].astype(str).str.strip().str.upper()
    )
    if "sex" in covariates:
        sheet["sex_female"] = _sex_female(sheet["sex"])
        sheet = sheet.drop(columns="sex")
    cohort = loads.merge(sheet, on="subject", how="inner")
    if brain is not None:
        brain_columns = ["subject", *BRAIN_COLUMNS] + (["icv_mm3"] if "icv" in covariates else [])
        require_columns(brain, brain_columns, table_name="brain volumes table")
        volumes = with_subject_ids(brain, table_name="brain volumes table")[brain_columns]
        cohort = cohort.merge(volumes, on="subject", how="inner")
    elif "icv" in covariates:
        raise InputError(
            "covariate icv needs the brain volumes table (column icv_mm3)",
            fix="pass brain volumes or drop icv from the covariates",
        )
    return cohort


def feature_columns(
    feature_set: str,
    region_columns: Sequence[str],
    covariates: Sequence[str] = (),
    zone_columns: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Return the cohort-table columns of a feature set, covariates appended.

    Examples
    --------
    >>> feature_columns("regional+brain", ["region_01", "region_02"], ["age"])
    ['region_01', 'region_02', 'hippocampus_mm3', 'csf_mm3', 'gm_mm3', 'wm_mm3', 'age']
    >>> feature_columns("pvdeep", [], zone_columns={"pvdeep": ["pvdeep_01", "pvdeep_02"]})
    ['pvdeep_01', 'pvdeep_02']
    """
    zones = zone_columns or {}
    sets = {
        "global": ["global_mm3"],
        "regional": list(region_columns),
        "brain": list(BRAIN_COLUMNS),
        "regional+brain": [*region_columns, *BRAIN_COLUMNS],
        **{name: list(zones.get(name, [])) for name in ZONE_FEATURE_SETS},
    }
    if feature_set not in sets:
        raise InputError(
            f"unknown feature set {feature_set!r}", fix=f"choose among {', '.join(sets)}"
        )
    return sets[feature_set] + [COVARIATES[c] for c in covariates]


def with_zone_loads(wide: pd.DataFrame, zone_wides: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The 34-region wide table with each zone scheme's columns (``pvdeep_01`` ...) joined
    on ``subject`` (subjects missing from a zone table are dropped).

    >>> wide = pd.DataFrame({"subject": ["a", "b"], "global_mm3": [1.0, 2.0]})
    >>> pv = pd.DataFrame({"subject": ["b", "a"], "global_mm3": [2.0, 1.0],
    ...                    "outside_mm3": [0.0, 0.0], "pvdeep_01": [1.5, 0.5]})
    >>> with_zone_loads(wide, {"pvdeep": pv}).to_dict("list")
    {'subject': ['a', 'b'], 'global_mm3': [1.0, 2.0], 'pvdeep_01': [0.5, 1.5]}
    """
    out = wide
    for scheme, table in zone_wides.items():
        columns = [c for c in table.columns if c.startswith(f"{scheme}_")]
        out = out.merge(table[["subject", *columns]], on="subject", how="inner")
    return out


def task_subjects(
    cohort: pd.DataFrame, task: Task, columns: Sequence[str]
) -> tuple[pd.DataFrame, npt.NDArray[np.int_]]:
    """Select the subjects of ``task`` that have every value in ``columns``.

    Returns the selected rows (original order) and the labels (1 = ``task.positive``).
    Raises :class:`InputError` when a column is missing or a class has < 2 subjects.
    """
    require_columns(cohort, ["subject", "diagnosis", *columns], table_name="cohort table")
    in_task = cohort["diagnosis"].isin([task.positive, task.negative])
    complete = cohort[list(columns)].notna().all(axis=1)
    rows = cohort[in_task & complete].reset_index(drop=True)
    labels: npt.NDArray[np.int_] = (rows["diagnosis"] == task.positive).to_numpy().astype(int)
    for name, count in ((task.positive, labels.sum()), (task.negative, (1 - labels).sum())):
        if count < 2:
            dropped = int((in_task & ~complete & (cohort["diagnosis"] == name)).sum())
            raise InputError(
                f"task {task.name}: class {name} has {count} subject(s) with complete data "
                f"({dropped} more lack a feature value); at least 2 are needed",
                fix=f"add {name} subjects, fill in their missing values, or drop the task "
                "from the config",
            )
    return rows, labels


def feasible_tasks(
    wide: pd.DataFrame, meta: pd.DataFrame, tasks: Sequence[str], covariates: Sequence[str] = ()
) -> list[str]:
    """The tasks whose classes each keep >= 2 subjects with loads, diagnosis and the
    covariates (age, sex) in the tables, e.g. after subjects failed validation.

    >>> wide = pd.DataFrame({"subject": list("abcde"), "global_mm3": [1.0, 2, 3, 4, 5]})
    >>> dx = ["AD", "AD", "CN", "CN", "MCI"]
    >>> meta = pd.DataFrame({"subject": list("abcde"), "diagnosis": dx})
    >>> feasible_tasks(wide, meta, ["AD vs CN", "AD vs MCI"])
    ['AD vs CN']
    """
    usable = [c for c in covariates if c != "icv"]
    cohort = cohort_table(wide, meta, covariates=usable)
    columns = ["global_mm3", *(COVARIATES[c] for c in usable)]
    feasible = []
    for name in tasks:
        try:
            task_subjects(cohort, Task.parse(name), columns)
        except InputError:
            continue
        feasible.append(name)
    return feasible


def make_classifier(C: float = 1.0) -> Pipeline:
    """Return the unfitted model: standardisation + L2 logistic regression.

    Newton-Cholesky converges in a few exact steps on tens of features, several times
    faster than the default L-BFGS here, and to the same optimum.
    """
    return make_pipeline(
        StandardScaler(), LogisticRegression(C=C, solver="newton-cholesky", max_iter=1000)
    )


def cross_validated_probabilities(
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    n_splits: int = 5,
    n_repeats: int = 10,
    seed: int = 0,
    C: float = 1.0,
) -> tuple[npt.NDArray[np.float64], int]:
    """Out-of-fold positive-class probabilities, averaged over CV repeats.

    Returns the probabilities and the number of folds used (``n_splits`` or, when a
    class is smaller, that class's size).
    """
    X = np.asarray(features, dtype=float)
    y = np.asarray(labels, dtype=int)
    smallest = int(min(y.sum(), y.size - y.sum()))
    if smallest < 2:
        raise InputError(
            f"cross-validation needs at least 2 subjects per class, the smaller has {smallest}",
            fix="add subjects to the smaller class",
        )
    folds = min(n_splits, smallest)
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=n_repeats, random_state=seed)
    total = np.zeros(y.size)
    model = make_classifier(C)
    for train, test in splitter.split(X, y):
        fitted = clone(model).fit(X[train], y[train])
        total[test] += fitted.predict_proba(X[test])[:, 1]
    return total / n_repeats, folds


def bootstrap_auc_ci(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of the AUC by stratified bootstrap (cases and controls resampled apart).

    Examples
    --------
    >>> bootstrap_auc_ci([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_resamples=100)
    (1.0, 1.0)
    """
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    positives, negatives = s[y == 1], s[y == 0]
    rng = np.random.default_rng(seed)
    resampled = np.concatenate(
        [
            positives[rng.integers(0, positives.size, (n_resamples, positives.size))],
            negatives[rng.integers(0, negatives.size, (n_resamples, negatives.size))],
        ],
        axis=1,
    )
    aucs = _auc_by_ranks(resampled, positives.size)
    low, high = np.quantile(aucs, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return float(low), float(high)


def delong_covariance(
    labels: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """AUCs of several scores of the same subjects and DeLong's covariance matrix of them.

    Fast algorithm of Sun & Xu (2014): the structural components (placements) come from
    midranks within the cases, within the controls and over everyone, so the cost is
    that of sorting. Higher scores mean "positive"; ties count one half.

    Parameters
    ----------
    labels
        1 for cases (positive class), 0 for controls; shape ``(n,)``.
    scores
        Shape ``(n,)`` for one score or ``(k, n)`` for ``k`` scores.

    Returns
    -------
    aucs : ndarray, shape (k,)
    covariance : ndarray, shape (k, k)

    Examples
    --------
    >>> aucs, cov = delong_covariance([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    >>> aucs.tolist(), cov.round(4).tolist()
    ([0.75], [[0.125]])
    """
    y = np.asarray(labels)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    if s.shape[1] != y.size:
        raise InputError(
            f"{y.size} labels but {s.shape[1]} scores per predictor",
            fix="pass one score per subject",
        )
    cases, controls = s[:, y == 1], s[:, y == 0]
    m, n = cases.shape[1], controls.shape[1]
    if m < 2 or n < 2:
        raise InputError(
            f"DeLong's variance needs at least 2 cases and 2 controls, found {m} and {n}",
            fix="add subjects to the smaller class",
        )
    ranks_cases = stats.rankdata(cases, axis=1)
    ranks_controls = stats.rankdata(controls, axis=1)
    ranks_all = stats.rankdata(np.concatenate([cases, controls], axis=1), axis=1)
    # Placements: share of controls below each case, of cases above each control.
    v10 = (ranks_all[:, :m] - ranks_cases) / n
    v01 = 1.0 - (ranks_all[:, m:] - ranks_controls) / m
    aucs = v10.mean(axis=1)
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


def delong_test(
    labels: npt.ArrayLike,
    scores_a: npt.ArrayLike,
    scores_b: npt.ArrayLike,
    *,
    confidence: float = 0.95,
) -> DeLongResult:
    """Two-sided DeLong test of two correlated AUCs (same subjects), with a CI of the difference.

    Examples
    --------
    >>> r = delong_test([0, 0, 0, 1, 1, 1], [1, 2, 3, 4, 5, 6], [1, 4, 3, 2, 5, 6])
    >>> r.auc_a, round(r.auc_b, 4), round(r.z, 4)
    (1.0, 0.7778, 0.8944)
    """
    aucs, cov = delong_covariance(labels, np.vstack([scores_a, scores_b]))
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = float(np.sqrt(max(variance, 0.0)))
    if se > 0:
        z = difference / se
    else:  # identical rankings (or no spread at all): no evidence of a difference
        z = 0.0 if difference == 0 else float(np.copysign(np.inf, difference))
    half = float(stats.norm.ppf(0.5 + confidence / 2.0)) * se
    return DeLongResult(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        difference=difference,
        se=se,
        z=float(z),
        p=float(2.0 * stats.norm.sf(abs(z))),
        ci_low=difference - half,
        ci_high=difference + half,
    )


def feature_significance(
    features: pd.DataFrame,
    labels: npt.ArrayLike,
    *,
    adjust_for: Sequence[str] = (),
    method: SignificanceMethod = "auto",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Logit coefficients per standardised feature, their tests and BH-FDR correction.

    Parameters
    ----------
    features
        One column per feature (and per covariate); one row per subject.
    labels
        1 for the positive class, 0 for the other.
    adjust_for
        Columns of ``features`` that are covariates: in every model, never reported.
    method
        ``"multivariable"``: one joint model (an error if it is not estimable);
        ``"univariable"``: one model per feature; ``"auto"``: joint when estimable
        (see the module docstring), otherwise univariable.
    alpha
        Level of the ``significant`` and ``significant_fdr`` columns.

    Returns
    -------
    pandas.DataFrame
        ``feature, approach, coef, se, z, p, p_fdr, significant, significant_fdr``, one
        row per reported feature in input order; ``approach`` is ``multivariable (Wald)``,
        ``univariable (LR test)``, ``univariable, separated (LR test)`` (``coef`` and
        ``se`` NaN, the sign of ``z`` gives the direction) or ``constant (not tested)``.
    """
    y = np.asarray(labels, dtype=int)
    require_columns(features, list(adjust_for), table_name="feature table")
    standardised = _standardise(features)
    constant = [c for c in standardised.columns if standardised[c].isna().all()]
    covariates = [c for c in adjust_for if c not in constant]
    tested = [c for c in features.columns if c not in adjust_for and c not in constant]

    rows: dict[str, dict[str, object]] = {}
    if method != "univariable" and tested:
        joint = _joint_logit(standardised[tested + covariates], y, len(tested) + len(covariates))
        if joint is not None:
            for name in tested:
                rows[name] = _wald_row(joint, name, "multivariable (Wald)")
        elif method == "multivariable":
            raise InputError(
                f"the joint logistic model of {len(tested)} feature(s) is not estimable on "
                f"{y.size} subjects (too few per coefficient, or the classes are separable)",
                fix="use method 'auto' or 'univariable'",
            )
    if not rows and tested:
        reduced_llf = _null_log_likelihood(standardised[covariates], y)
        for name in tested:
            rows[name] = _univariable_row(standardised[[name, *covariates]], y, name, reduced_llf)

    table = pd.DataFrame(
        [
            {"feature": name, **rows.get(name, _empty_row("constant (not tested)"))}
            for name in features.columns
            if name not in adjust_for
        ],
        columns=["feature", "approach", "coef", "se", "z", "p"],
    )
    table["p_fdr"] = _fdr(table["p"].to_numpy(dtype=float))
    table["significant"] = table["p"] < alpha
    table["significant_fdr"] = table["p_fdr"] < alpha
    return table


def classify(
    wide: pd.DataFrame,
    meta: pd.DataFrame,
    brain: pd.DataFrame | None = None,
    *,
    tasks: Sequence[str] = TASKS,
    feature_sets: Sequence[str] = FEATURE_SETS,
    covariates: Sequence[str] = (),
    comparisons: Sequence[tuple[str, str]] = COMPARISONS,
    region_columns: Sequence[str] | None = None,
    n_splits: int = 5,
    n_repeats: int = 10,
    n_bootstrap: int = 2000,
    C: float = 1.0,
    significance_method: SignificanceMethod = "auto",
    confidence: float = 0.95,
    seed: int = 0,
) -> ClassificationResults:
    """Run every task x feature set: CV probabilities, ROC/AUC, DeLong tests, coefficients.

    Deterministic for a given ``seed``. See the module docstring for the design.

    Parameters
    ----------
    wide, meta, brain
        Loads table, sample sheet and (needed by the ``brain`` sets and by ``icv``) brain
        volumes; see :mod:`wmhmap.stats`.
    tasks
        Task names such as ``"AD vs CN"``.
    feature_sets
        Among ``global``, ``regional``, ``brain``, ``regional+brain`` and the zone
        schemes ``pvdeep``, ``bullseye`` (their columns merged into ``wide`` by
        :func:`with_zone_loads`).
    covariates
        Among ``age``, ``sex``, ``icv``; appended to every feature set.
    comparisons
        Pairs of feature sets compared with DeLong's test (those not requested are skipped).
    region_columns
        Regional columns to use (default: every ``region_NN`` column of ``wide``).
    n_splits, n_repeats
        Repeated stratified K-fold CV.
    n_bootstrap
        Stratified bootstrap resamples for the AUC confidence interval.
    C
        Inverse L2 penalty strength of the logistic regression.
    significance_method
        See :func:`feature_significance`.
    confidence
        Level of the AUC and DeLong confidence intervals.
    seed
        Seeds the CV folds and the bootstrap.
    """
    parsed = [Task.parse(t) for t in tasks]
    for feature_set in feature_sets:
        feature_columns(feature_set, [])  # rejects unknown names before any work
    if brain is None and any("brain" in s for s in feature_sets):
        raise InputError(
            "feature sets 'brain' and 'regional+brain' need brain-structure volumes",
            fix="pass the brain volumes table or drop those feature sets from the config",
        )
    regions = list(region_columns) if region_columns is not None else find_region_columns(wide)
    zones = {z: [c for c in wide.columns if c.startswith(f"{z}_")] for z in ZONE_FEATURE_SETS}
    for feature_set in feature_sets:
        if feature_set in zones and not zones[feature_set]:
            raise InputError(
                f"feature set {feature_set!r} needs the {feature_set} zone loads, which the "
                "loads table lacks",
                fix=f"add {feature_set} to zones.schemes, or drop it from stats.feature_sets",
            )
    cohort = cohort_table(wide, meta, brain, covariates=covariates)
    covariate_columns = [COVARIATES[c] for c in covariates]
    columns = {s: feature_columns(s, regions, covariates, zones) for s in feature_sets}
    needed = list(dict.fromkeys(c for cs in columns.values() for c in cs))

    auc_rows, roc_parts, delong_rows, coefficient_parts, prediction_parts = [], [], [], [], []
    for task in parsed:
        rows, y = task_subjects(cohort, task, needed)
        probabilities = {}
        for feature_set in feature_sets:
            X = rows[columns[feature_set]]
            p, folds = cross_validated_probabilities(
                X.to_numpy(dtype=float), y, n_splits=n_splits, n_repeats=n_repeats, seed=seed, C=C
            )
            probabilities[feature_set] = p
            low, high = bootstrap_auc_ci(
                y, p, n_resamples=n_bootstrap, confidence=confidence, seed=seed
            )
            auc_rows.append(
                {
                    "task": task.name,
                    "feature_set": feature_set,
                    "n_pos": int(y.sum()),
                    "n_neg": int(y.size - y.sum()),
                    "n_splits": folds,
                    "auc": float(roc_auc_score(y, p)),
                    "ci_low": low,
                    "ci_high": high,
                }
            )
            fpr, tpr, thresholds = roc_curve(y, p)
            roc_parts.append(
                pd.DataFrame(
                    {
                        "task": task.name,
                        "feature_set": feature_set,
                        "fpr": fpr,
                        "tpr": tpr,
                        "threshold": thresholds,
                    }
                )
            )
            prediction_parts.append(
                pd.DataFrame(
                    {
                        "task": task.name,
                        "feature_set": feature_set,
                        "subject": rows["subject"],
                        "diagnosis": rows["diagnosis"],
                        "label": y,
                        "probability": p,
                    }
                )
            )
            table = feature_significance(
                X, y, adjust_for=covariate_columns, method=significance_method
            )
            table.insert(0, "task", task.name)
            table.insert(1, "feature_set", feature_set)
            table.insert(4, "n", int(y.size))
            coefficient_parts.append(table)
        for set_a, set_b in comparisons:
            if set_a in probabilities and set_b in probabilities:
                result = delong_test(
                    y, probabilities[set_a], probabilities[set_b], confidence=confidence
                )
                delong_rows.append(
                    {
                        "task": task.name,
                        "feature_set_a": set_a,
                        "feature_set_b": set_b,
                        **vars(result),
                    }
                )
    delong_columns = ["task", "feature_set_a", "feature_set_b", *DeLongResult.__annotations__]
    return ClassificationResults(
        auc=pd.DataFrame(auc_rows),
        roc=pd.concat(roc_parts, ignore_index=True),
        delong=pd.DataFrame(delong_rows, columns=delong_columns),
        coefficients=pd.concat(coefficient_parts, ignore_index=True),
        predictions=pd.concat(prediction_parts, ignore_index=True),
    )


def _sex_female(sex: pd.Series) -> pd.Series:
    codes = sex.astype("string").str.strip().str.upper()
    unknown = sorted(set(codes.dropna()) - {"M", "F"})
    if unknown:
        raise InputError(
            f"sample sheet column sex holds {', '.join(unknown)}; expected M or F",
            fix="write M or F (or leave the cell empty when unknown)",
        )
    return codes.map({"M": 0.0, "F": 1.0}).astype(float)


def _auc_by_ranks(scores: npt.NDArray[np.float64], n_positive: int) -> npt.NDArray[np.float64]:
    """AUC of each row of ``scores`` whose first ``n_positive`` entries are the cases."""
    ranks = stats.rankdata(scores, axis=1)
    n_negative = scores.shape[1] - n_positive
    rank_sum = ranks[:, :n_positive].sum(axis=1)
    return np.asarray(
        (rank_sum - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative),
        dtype=float,
    )


def _standardise(features: pd.DataFrame) -> pd.DataFrame:
    """Z-scores over the given subjects; constant columns become all-NaN."""
    values = features.astype(float)
    spread = values.std(ddof=0)
    return (values - values.mean()) / spread.where(spread > 0)


def _fit_logit(
    X: pd.DataFrame, y: npt.NDArray[np.int_]
) -> tuple[sm.discrete.discrete_model.BinaryResultsWrapper, bool]:
    """Fit a Logit with an intercept; also return whether the fit is trustworthy."""
    design = sm.add_constant(X, has_constant="add")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = sm.Logit(y, design).fit(disp=0, maxiter=100)
        except np.linalg.LinAlgError:
            fit = sm.Logit(y, design).fit(disp=0, maxiter=100, method="bfgs")
    troubled = any(
        issubclass(
            w.category,
            PerfectSeparationWarning
            | ConvergenceWarning
            | HessianInversionWarning
            | RuntimeWarning,
        )
        for w in caught
    )
    params, bse = np.asarray(fit.params), np.asarray(fit.bse)
    ok = (
        not troubled
        and bool(fit.mle_retvals.get("converged", False))
        and bool(np.all(np.isfinite(bse)))
        and float(np.max(np.abs(params[1:]), initial=0.0)) < _DIVERGED_COEF
    )
    return fit, ok


def _joint_logit(
    X: pd.DataFrame, y: npt.NDArray[np.int_], n_parameters: int
) -> sm.discrete.discrete_model.BinaryResultsWrapper | None:
    smaller = int(min(y.sum(), y.size - y.sum()))
    if smaller < MIN_EVENTS_PER_PARAMETER * n_parameters:
        return None
    fit, ok = _fit_logit(X, y)
    return fit if ok else None


def _null_log_likelihood(covariates: pd.DataFrame, y: npt.NDArray[np.int_]) -> float:
    """Log-likelihood of the model without any feature: intercept and covariates only."""
    if covariates.shape[1] == 0:
        share = float(y.mean())
        return float(y.size * (share * np.log(share) + (1 - share) * np.log(1 - share)))
    return float(_fit_logit(covariates, y)[0].llf)


def _univariable_row(
    X: pd.DataFrame, y: npt.NDArray[np.int_], name: str, reduced_llf: float
) -> dict[str, object]:
    """One feature (plus covariates): Wald estimate, likelihood-ratio test.

    The likelihood-ratio test is used because the Wald test loses power exactly when an
    effect is large (Hauck & Donner 1977) and is undefined under separation, while the
    likelihood ratio against the model without the feature (``reduced_llf``) stays
    finite. ``z`` is the signed root of the LR statistic, so ``p = 2 * (1 - Phi(|z|))``
    as for a Wald z.
    """
    fit, ok = _fit_logit(X, y)
    statistic = max(2.0 * (float(fit.llf) - reduced_llf), 0.0)
    if ok:
        row = _wald_row(fit, name, "univariable (LR test)")
    else:  # separation: the MLE is infinite, only its direction is known
        row = _empty_row("univariable, separated (LR test)")
    row["z"] = float(np.sign(fit.params[name]) * np.sqrt(statistic))
    row["p"] = float(stats.chi2.sf(statistic, df=1))
    return row


def _wald_row(
    fit: sm.discrete.discrete_model.BinaryResultsWrapper, name: str, approach: str
) -> dict[str, object]:
    return {
        "approach": approach,
        "coef": float(fit.params[name]),
        "se": float(fit.bse[name]),
        "z": float(fit.tvalues[name]),
        "p": float(fit.pvalues[name]),
    }


def _empty_row(approach: str) -> dict[str, object]:
    nan = float("nan")
    return {"approach": approach, "coef": nan, "se": nan, "z": nan, "p": nan}


def _fdr(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values; NaN stays NaN and is not counted."""
    adjusted = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        adjusted[tested] = multipletests(p[tested], method="fdr_bh")[1]
    return adjusted
