"""Calibrated intervals for regional loads: split-conformal on nnU-Net's cross-validation.

The cross-validation folds agree with one another more than with an expert: on the
demo's held-out subjects their range holds the expert's regional load for about a third
of the regions (``benchmarks/bench_load_uncertainty.py``). The interval here is
calibrated instead on what the folds already give for free. Every training subject is
segmented by all folds, and one of them (the fold that held it out) never learned from
it: that fold's load of each region (``held_out_mm3``) against the expert's
(``reference_mm3``) is an honest sample of the model's error on an unseen scan. With the
score

    s = |held_out - reference| / (held_out + floor)

(relative error, ``floor`` keeping small loads from dividing by zero), the interval of
a load ``L`` is ``L -/+ q (L + floor)`` with ``q`` the conformal quantile of the scores
(the ``ceil((n + 1) coverage)``-th smallest of ``n``), joined with the folds' range so
that it is never narrower where the folds disagree. Under exchangeability of the
training and the other subjects it holds the expert's load with probability at least
``coverage`` (Vovk et al. 2005; Angelopoulos & Bates 2023, "Conformal prediction: a
gentle introduction"). The score pairs are the training subjects' (region, scheme) rows
where either load is non-zero; each zone scheme is calibrated on its own rows.

The final segmentation averages all folds, so it is at least as good as one fold: the
interval is, if anything, conservative. A model given as a zip (``models.lesion.
pretrained``) has no held-out folds here, and the intervals stay empty.

Its own module, apart from :mod:`wmhmap.loads`, so that a change to the calibration
reruns the cohort tables and figures, not every subject's loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from wmhmap.errors import InputError

INTERVAL_COLUMNS: tuple[str, ...] = ("interval_low_mm3", "interval_high_mm3")
"""Columns :func:`with_intervals` adds to a long loads table."""

CALIBRATION_COLUMNS: tuple[str, ...] = (
    "scheme",
    "coverage",
    "floor_mm3",
    "subjects",
    "pairs",
    "quantile",
)
"""Columns of the calibration table (one row per scheme): the target coverage, the
score's floor, the training subjects and (region, subject) pairs it was calibrated on,
and the conformal quantile ``q`` (empty when too few pairs)."""


@dataclass(frozen=True)
class IntervalSettings:
    """``loads.interval_coverage`` and ``loads.interval_floor_mm3``.

    >>> IntervalSettings(coverage=1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wmhmap.errors.InputError: interval coverage 1.0 is not between 0 and 1. Fix: ...
    """

    coverage: float = 0.8
    floor_mm3: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.coverage < 1:
            raise InputError(
                f"interval coverage {self.coverage} is not between 0 and 1",
                fix="set loads.interval_coverage to e.g. 0.8",
            )
        if not self.floor_mm3 > 0:
            raise InputError(
                f"interval floor {self.floor_mm3} mm3 is not positive",
                fix="set loads.interval_floor_mm3 to e.g. 30 (a small lesion)",
            )


def interval_scores(
    predicted: npt.ArrayLike, reference: npt.ArrayLike, floor_mm3: float
) -> npt.NDArray[np.float64]:
    """Nonconformity scores ``|predicted - reference| / (predicted + floor)``.

    >>> interval_scores([100.0, 0.0], [80.0, 30.0], 20.0).tolist()
    [0.16666666666666666, 1.5]
    """
    p = np.asarray(predicted, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    return np.abs(p - r) / (p + floor_mm3)


def conformal_quantile(scores: npt.ArrayLike, coverage: float) -> float:
    """The ``ceil((n + 1) coverage)``-th smallest of ``n`` scores: a new score is at most
    this with probability >= ``coverage``; infinite when ``n`` is too small for it.

    >>> conformal_quantile(np.arange(1.0, 11.0), 0.8)  # ceil(11 * 0.8) = 9th of 10
    9.0
    >>> conformal_quantile([1.0, 2.0, 3.0], 0.8)
    inf
    """
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    k = math.ceil((len(s) + 1) * coverage)
    return float(s[k - 1]) if 1 <= k <= len(s) else math.inf


def calibration_pairs(long: pd.DataFrame) -> pd.DataFrame:
    """The rows that calibrate: a training subject's (``held_out_mm3`` known) rows with an
    expert load (``reference_mm3``) where either is non-zero."""
    if not {"held_out_mm3", "reference_mm3"} <= set(long.columns):
        return long.iloc[:0]
    held, ref = long["held_out_mm3"], long["reference_mm3"]
    known = held.notna() & ref.notna()
    return long[known & ((held > 0) | (ref > 0))]


def calibrate_intervals(long: pd.DataFrame, settings: IntervalSettings) -> pd.DataFrame:
    """One row per scheme of the long table (:data:`CALIBRATION_COLUMNS`): the conformal
    quantile of the training subjects' held-out scores.

    >>> long = pd.DataFrame({"subject": list("abcde"), "scheme": "jhu34",
    ...     "region_id": 1, "held_out_mm3": [100.0, 90, 0, 50, 70],
    ...     "reference_mm3": [110.0, 90, 0, 40, 70]})
    >>> calibrate_intervals(long, IntervalSettings(0.5, 10.0)).to_dict("records")
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'scheme': 'jhu34', 'coverage': 0.5, 'floor_mm3': 10.0, 'subjects': 4, 'pairs': 4,
      'quantile': 0.09090909090909091}]
    """
    schemes = list(dict.fromkeys(long["scheme"])) if "scheme" in long else []
    pairs = calibration_pairs(long)
    rows = []
    for scheme in schemes:
        own = pairs[pairs["scheme"] == scheme]
        q = conformal_quantile(
            interval_scores(own["held_out_mm3"], own["reference_mm3"], settings.floor_mm3),
            settings.coverage,
        )
        rows.append(
            {
                "scheme": scheme,
                "coverage": settings.coverage,
                "floor_mm3": settings.floor_mm3,
                "subjects": int(own["subject"].nunique()),
                "pairs": len(own),
                "quantile": q if math.isfinite(q) else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))


def with_intervals(long: pd.DataFrame, calibration: pd.DataFrame) -> pd.DataFrame:
    """``long`` with :data:`INTERVAL_COLUMNS`: ``lesion_mm3 -/+ q (lesion_mm3 + floor)``
    of the row's scheme (never below 0), joined with the folds' range when the table has
    it; empty where the scheme has no quantile.

    >>> long = pd.DataFrame({"scheme": ["jhu34", "jhu34", "pvdeep"],
    ...     "lesion_mm3": [100.0, 0.0, 50.0], "fold_min_mm3": [95.0, 0.0, 40.0],
    ...     "fold_max_mm3": [150.0, 0.0, 60.0]})
    >>> cal = pd.DataFrame({"scheme": ["jhu34"], "floor_mm3": [20.0], "quantile": [0.25]})
    >>> with_intervals(long, cal)[list(INTERVAL_COLUMNS)].to_numpy().tolist()
    [[70.0, 150.0], [0.0, 5.0], [nan, nan]]
    """
    out = long.copy()
    by_scheme = calibration.set_index("scheme")
    scheme = out["scheme"] if "scheme" in out else pd.Series("jhu34", index=out.index)
    q = scheme.map(by_scheme["quantile"]).astype(float).to_numpy()
    floor = scheme.map(by_scheme["floor_mm3"]).astype(float).to_numpy()
    load = out["lesion_mm3"].to_numpy(dtype=np.float64)
    half = q * (load + floor)
    low, high = np.maximum(load - half, 0.0), load + half
    if {"fold_min_mm3", "fold_max_mm3"} <= set(out.columns):
        low = np.fmin(low, out["fold_min_mm3"].to_numpy(dtype=np.float64))
        high = np.fmax(high, out["fold_max_mm3"].to_numpy(dtype=np.float64))
        low[np.isnan(q)] = high[np.isnan(q)] = np.nan
    out["interval_low_mm3"], out["interval_high_mm3"] = low, high
    return out


def held_out_coverage(long: pd.DataFrame, min_mm3: float = 0.0) -> pd.DataFrame:
    """Per scheme, the share of held-out rows (an expert load, no training role) whose
    interval holds the expert's load: the check on subjects the calibration never saw.
    The rows are those the calibration's population mirrors (the expert's or the
    measured load non-zero), with an expert load >= ``min_mm3``.

    >>> long = pd.DataFrame({"scheme": "jhu34", "reference_mm3": [10.0, 50.0, 0.0, 0.0],
    ...     "lesion_mm3": [12.0, 70.0, 0.0, 5.0], "held_out_mm3": [float("nan")] * 4,
    ...     "interval_low_mm3": [5.0, 60.0, 0.0, 1.0], "interval_high_mm3": [20.0, 80.0, 1.0, 9.0]})
    >>> held_out_coverage(long).to_dict("records")
    [{'scheme': 'jhu34', 'pairs': 3, 'covered': 0.3333333333333333}]
    >>> held_out_coverage(long, 20.0).to_dict("records")
    [{'scheme': 'jhu34', 'pairs': 1, 'covered': 0.0}]
    """
    needed = {"reference_mm3", "held_out_mm3", "lesion_mm3", *INTERVAL_COLUMNS}
    if not needed <= set(long.columns):
        return pd.DataFrame(columns=["scheme", "pairs", "covered"])
    reference = long["reference_mm3"]
    rows = long[
        reference.notna()
        & long["held_out_mm3"].isna()
        & long["interval_low_mm3"].notna()
        & ((reference > 0) | (long["lesion_mm3"] > 0))
        & (reference >= min_mm3)
    ]
    inside = (rows["interval_low_mm3"] <= rows["reference_mm3"]) & (
        rows["reference_mm3"] <= rows["interval_high_mm3"]
    )
    out = [
        {"scheme": s, "pairs": len(g), "covered": float(inside[g.index].mean())}
        for s, g in rows.groupby("scheme", sort=False)
    ]
    return pd.DataFrame(out, columns=["scheme", "pairs", "covered"])
