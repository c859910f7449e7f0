"""Bland-Altman agreement of predicted and reference lesion volumes (validation, stage 5).

The differences are ``predicted - reference``, so a positive bias means the workflow
measures more lesion than the reference method. Limits of agreement are
``bias ± z * sd`` (``z = 1.96`` for 95 % coverage); their confidence intervals use the
approximate standard error ``sqrt(3 sd^2 / n)`` of Bland & Altman (1999, Stat Methods Med
Res 8:135) with t quantiles on ``n - 1`` degrees of freedom. Proportional bias is the
slope of an ordinary least-squares regression of the difference on the pair mean.

Log scale
---------
With ``log=True`` the analysis is run on ``log(predicted + c) - log(reference + c)`` and
the bias and limits back-transform into ratios ``(predicted + c) / (reference + c)``.
The offset ``c`` (``log_offset``, in the volumes' units) is 0 by default, which needs every
volume to be positive: subjects without any lesion have volume 0 and make ``log``
undefined, and the function then refuses with an error instead of dropping them
silently. Pass ``log_offset=1.0`` on volumes in mL (that is ``log1p``): it leaves
moderate and large loads close to a pure ratio and compresses the noisy relative
differences of near-empty scans.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from wmhmap.errors import InputError
from wmhmap.stats import require_columns, with_subject_ids

MM3_PER_ML = 1000.0


@dataclass(frozen=True)
class BlandAltman:
    """Result of :func:`bland_altman`; scalars are on the analysed (raw or log) scale.

    ``ratio_*`` are the back-transformed bias and limits of a log analysis (NaN otherwise);
    ``bias_percent`` is the bias as a percentage of the mean volume (raw scale) or the
    percentage ratio ``100 (exp(bias) - 1)`` (log scale).
    """

    n: int
    n_missing: int
    bias: float
    sd: float
    lower: float
    upper: float
    bias_ci_low: float
    bias_ci_high: float
    lower_ci_low: float
    lower_ci_high: float
    upper_ci_low: float
    upper_ci_high: float
    slope: float
    intercept: float
    slope_p: float
    bias_percent: float
    log: bool
    log_offset: float
    ratio_bias: float
    ratio_lower: float
    ratio_upper: float
    coverage: float
    confidence: float
    means: npt.NDArray[np.float64] = field(repr=False, compare=False)
    differences: npt.NDArray[np.float64] = field(repr=False, compare=False)
    used: npt.NDArray[np.bool_] = field(repr=False, compare=False)
    """Which input pairs were analysed (both values finite)."""

    def as_table(self) -> pd.DataFrame:
        """Return the scalar results as a one-row table."""
        row = {k: v for k, v in asdict(self).items() if k not in {"means", "differences", "used"}}
        return pd.DataFrame([row])


def bland_altman(
    predicted: npt.ArrayLike,
    reference: npt.ArrayLike,
    *,
    log: bool = False,
    log_offset: float = 0.0,
    coverage: float = 0.95,
    confidence: float = 0.95,
) -> BlandAltman:
    """Bland-Altman analysis of ``predicted`` against ``reference`` (same subjects, same order).

    Pairs where either value is missing (NaN) are left out and counted in ``n_missing``.

    Parameters
    ----------
    predicted, reference
        Volumes of the same subjects, in the same units.
    log
        Analyse log volumes (see the module docstring for zeros and ``log_offset``).
    log_offset
        Added to both volumes before taking logs.
    coverage
        Share of differences the limits of agreement should hold (0.95: ``bias ± 1.96 sd``).
    confidence
        Level of the confidence intervals of the bias and of both limits.

    Examples
    --------
    >>> ba = bland_altman([2.0, 4.0, 4.0, 6.0], [1.0, 2.0, 3.0, 4.0])
    >>> ba.bias, round(ba.sd, 4), round(ba.upper, 4), round(ba.slope, 2)
    (1.5, 0.5774, 2.6316, 0.24)
    """
    pred = _as_vector(predicted, "predicted")
    ref = _as_vector(reference, "reference")
    if pred.shape != ref.shape:
        raise InputError(
            f"predicted and reference volumes differ in length ({pred.size} vs {ref.size})",
            fix="pass the two volumes of the same subjects, in the same order",
        )
    used = np.isfinite(pred) & np.isfinite(ref)
    n = int(used.sum())
    if n < 3:
        raise InputError(
            f"Bland-Altman analysis needs at least 3 subjects with both volumes, found {n}",
            fix="check that the reference volumes are filled in the sample sheet",
        )
    pred, ref = pred[used], ref[used]
    if log:
        pred, ref = _log_volumes(pred, ref, log_offset)
    differences = pred - ref
    means = (pred + ref) / 2.0

    bias = float(differences.mean())
    sd = float(differences.std(ddof=1))
    z = float(stats.norm.ppf(0.5 + coverage / 2.0))
    t = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1))
    lower, upper = bias - z * sd, bias + z * sd
    bias_half = t * sd / np.sqrt(n)
    limit_half = t * np.sqrt(3.0 * sd**2 / n)

    fit = sm.OLS(differences, sm.add_constant(means, has_constant="add")).fit()
    intercept, slope = (float(v) for v in fit.params)
    slope_p = float(fit.pvalues[1]) if np.ptp(means) > 0 else float("nan")

    if log:
        bias_percent = 100.0 * (np.exp(bias) - 1.0)
        ratios = (float(np.exp(bias)), float(np.exp(lower)), float(np.exp(upper)))
    else:
        mean_volume = float(means.mean())
        bias_percent = 100.0 * bias / mean_volume if mean_volume != 0 else float("nan")
        ratios = (float("nan"),) * 3
    return BlandAltman(
        n=n,
        n_missing=int(used.size - n),
        bias=bias,
        sd=sd,
        lower=lower,
        upper=upper,
        bias_ci_low=bias - bias_half,
        bias_ci_high=bias + bias_half,
        lower_ci_low=lower - limit_half,
        lower_ci_high=lower + limit_half,
        upper_ci_low=upper - limit_half,
        upper_ci_high=upper + limit_half,
        slope=slope,
        intercept=intercept,
        slope_p=slope_p,
        bias_percent=float(bias_percent),
        log=log,
        log_offset=float(log_offset),
        ratio_bias=ratios[0],
        ratio_lower=ratios[1],
        ratio_upper=ratios[2],
        coverage=coverage,
        confidence=confidence,
        means=means,
        differences=differences,
        used=used,
    )


def validation_table(wide: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Pair each subject's predicted global volume with the sample sheet's reference volume.

    Returns
    -------
    pandas.DataFrame
        ``subject, diagnosis, site, predicted_ml, reference_ml`` for the subjects of
        ``wide`` (inner join on ``subject``); ``reference_ml`` is NaN where the sample
        sheet has none. ``diagnosis`` and ``site`` are NaN when the sample sheet lacks them.

    Examples
    --------
    >>> wide = pd.DataFrame({"subject": ["a", "b"], "global_mm3": [1500.0, 0.0]})
    >>> meta = pd.DataFrame({"subject": ["a", "b"], "reference_wmh_ml": [1.2, None]})
    >>> validation_table(wide, meta)[["subject", "predicted_ml", "reference_ml"]]
      subject  predicted_ml  reference_ml
    0       a           1.5           1.2
    1       b           0.0           NaN
    """
    require_columns(wide, ["subject", "global_mm3"], table_name="loads table")
    require_columns(meta, ["subject", "reference_wmh_ml"], table_name="sample sheet")
    loads = with_subject_ids(wide, table_name="loads table")
    sheet = with_subject_ids(meta, table_name="sample sheet")
    for column in ("diagnosis", "site"):
        if column not in sheet.columns:
            sheet[column] = np.nan
    merged = loads[["subject", "global_mm3"]].merge(
        sheet[["subject", "diagnosis", "site", "reference_wmh_ml"]], on="subject", how="inner"
    )
    return pd.DataFrame(
        {
            "subject": merged["subject"],
            "diagnosis": merged["diagnosis"],
            "site": merged["site"],
            "predicted_ml": merged["global_mm3"].astype(float) / MM3_PER_ML,
            "reference_ml": pd.to_numeric(merged["reference_wmh_ml"], errors="coerce"),
        }
    )


def _as_vector(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise InputError(
            f"{name} volumes must be one value per subject, got an array of shape {array.shape}",
            fix="pass a 1-D sequence of volumes",
        )
    return array


def _log_volumes(
    predicted: npt.NDArray[np.float64], reference: npt.NDArray[np.float64], offset: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    if np.any(predicted < 0) or np.any(reference < 0):
        raise InputError(
            "negative volumes cannot be log-transformed",
            fix="check the predicted and reference volumes",
        )
    not_positive = int(np.sum((predicted + offset <= 0) | (reference + offset <= 0)))
    if not_positive:
        raise InputError(
            f"{not_positive} subject(s) have a zero volume, whose log is undefined "
            f"(log offset {offset:g})",
            fix="pass a positive log offset in the volumes' units, e.g. log_offset=1.0 for "
            "volumes in mL (log1p), or analyse on the raw scale",
        )
    return np.log(predicted + offset), np.log(reference + offset)
