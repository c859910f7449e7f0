"""Cohort-level comparison of segmentation accuracy: tables, Wilcoxon tests and figures.

Input is a long table of per-subject metrics, one row per subject and input mode:
columns ``subject``, ``mode`` (``"flair"``, ``"t1"``, ``"fused"`` ...), optionally
``site``, and metric columns such as those of
:func:`wmhmap.metrics.evaluate_segmentation` (``dice``, ``hd95``, ``avd``,
``lesion_recall``, ``lesion_f1``). Missing values (NaN, e.g. HD95 of an empty
prediction) are left out of means, SDs and tests; they are never read as 0.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no
seaborn), so they render with the Agg backend on a headless node.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import stats

from wmhmap.errors import InputError

COMPARISON_COLUMNS: tuple[str, ...] = ("mode_a", "mode_b", "n", "statistic", "p", "p_holm")
"""Columns of :func:`compare_modes` (after the ``by`` column, when given)."""

MISSING_TEXT = "n/a"
"""How a missing mean or SD is written in the formatted columns."""


def format_mean_sd(mean: float, sd: float, decimals: int = 2) -> str:
    """``"mean ± sd"`` with ``decimals`` decimals; ``n/a`` for a missing value.

    Examples
    --------
    >>> format_mean_sd(0.7712, 0.0803)
    '0.77 ± 0.08'
    >>> format_mean_sd(3.0, float("nan"), decimals=1)
    '3.0 ± n/a'
    """

    def text(value: float) -> str:
        return MISSING_TEXT if math.isnan(value) else f"{value:.{decimals}f}"

    return f"{text(mean)} ± {text(sd)}"


def summarize_metrics(
    metrics: pd.DataFrame,
    by: str | Sequence[str] = "mode",
    *,
    columns: Sequence[str] | None = None,
    decimals: int = 2,
) -> pd.DataFrame:
    """Mean ± SD of each metric per group, like the accuracy table of a paper.

    Parameters
    ----------
    metrics
        Long table of per-subject metrics.
    by
        Grouping column(s), e.g. ``"mode"`` or ``["site", "mode"]``; groups keep their
        order of first appearance.
    columns
        Metric columns; default every numeric column that is not a grouping column.
    decimals
        Decimals of the formatted columns.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``n`` (rows in the group), then for each
        metric ``<metric>_mean``, ``<metric>_sd`` (sample SD, ddof 1; NaN values are
        skipped) and ``<metric>_mean_sd``, the text ``"0.77 ± 0.08"``.

    Examples
    --------
    >>> df = pd.DataFrame({"subject": ["a", "b", "a", "b"], "mode": ["flair", "flair", "t1", "t1"],
    ...                    "dice": [0.7, 0.8, 0.5, 0.6]})
    >>> summarize_metrics(df)[["mode", "n", "dice_mean_sd"]].to_dict("records")
    [{'mode': 'flair', 'n': 2, 'dice_mean_sd': '0.75 ± 0.07'}, {'mode': 't1', 'n': 2, 'dice_mean_sd': '0.55 ± 0.07'}]
    """  # noqa: E501
    groups = [by] if isinstance(by, str) else list(by)
    _require_columns(metrics, groups, "metrics")
    if columns is None:
        columns = [
            c
            for c in metrics.columns
            if c not in groups and c != "subject" and pd.api.types.is_numeric_dtype(metrics[c])
        ]
        if not columns:
            raise InputError(
                "metrics table has no numeric metric columns",
                fix="pass a table with columns such as dice, hd95, avd",
            )
    _require_columns(metrics, list(columns), "metrics")
    grouped = metrics.groupby(groups, sort=False, dropna=False)
    summary = grouped.size().rename("n").reset_index()
    for column in columns:
        values = pd.to_numeric(metrics[column], errors="raise").astype(np.float64)
        by_group = values.groupby([metrics[g] for g in groups], sort=False, dropna=False)
        mean = by_group.mean().to_numpy()
        sd = by_group.std(ddof=1).to_numpy()
        summary[f"{column}_mean"] = mean
        summary[f"{column}_sd"] = sd
        summary[f"{column}_mean_sd"] = [
            format_mean_sd(float(m), float(s), decimals) for m, s in zip(mean, sd, strict=True)
        ]
    return summary


def compare_modes(
    metrics: pd.DataFrame,
    metric: str,
    pairs: Sequence[tuple[str, str]] | None = None,
    *,
    by: str | None = None,
    mode_column: str = "mode",
) -> pd.DataFrame:
    """Wilcoxon signed-rank test of ``metric`` between input modes, paired by subject.

    Parameters
    ----------
    metrics
        Long table with ``subject``, ``mode_column`` and ``metric`` (one row per
        subject and mode).
    metric
        Column to compare, e.g. ``"dice"``.
    pairs
        Mode pairs to test; default every pair of modes, in order of first appearance.
    by
        Optional grouping column (e.g. ``"site"``): one test per group and pair.

    Returns
    -------
    pandas.DataFrame
        ``[by,] mode_a, mode_b, n, statistic, p, p_holm``: ``n`` subjects with both
        values (NaNs dropped pair-wise), the statistic and two-sided p of
        :func:`scipy.stats.wilcoxon` (zero differences dropped, its default). With no
        pair, statistic and p are NaN; when every difference is 0, statistic is 0 and
        p is 1 (no evidence of a difference). ``p_holm`` is p adjusted for testing
        every pair (Holm's step-down method, statsmodels' ``multipletests``), within
        each group of ``by``: read it when several modes are compared at once.

    Examples
    --------
    >>> df = pd.DataFrame({"subject": list("abcde") * 2, "mode": ["flair"] * 5 + ["t1"] * 5,
    ...                    "dice": [0.8, 0.7, 0.9, 0.6, 0.75, 0.7, 0.5, 0.6, 0.2, 0.7]})
    >>> result = compare_modes(df, "dice")
    >>> result[["mode_a", "mode_b", "n", "statistic", "p"]].to_dict("records")
    [{'mode_a': 'flair', 'mode_b': 't1', 'n': 5, 'statistic': 0.0, 'p': 0.0625}]
    >>> float(result.p_holm.iloc[0])  # one pair: nothing to adjust
    0.0625
    """
    required = ["subject", mode_column, metric] + ([by] if by is not None else [])
    _require_columns(metrics, required, "metrics")
    modes = list(pd.unique(metrics[mode_column]))
    if pairs is None:
        pairs = list(itertools.combinations(modes, 2))
    for pair in pairs:
        unknown = [m for m in pair if m not in modes]
        if unknown:
            raise InputError(
                f"mode {unknown[0]!r} is not in the metrics table (modes: "
                f"{', '.join(map(str, modes))})",
                fix="compare modes that were evaluated",
            )
    rows: list[dict[str, Any]] = []
    groups = [(None, metrics)] if by is None else metrics.groupby(by, sort=False)
    for group, table in groups:
        repeated = table.duplicated(["subject", mode_column])
        if repeated.any():
            first = table[repeated].iloc[0]
            raise InputError(
                f"subject {first.subject} has more than one {metric} value for mode "
                f"{first[mode_column]!r}" + (f" in {by} {group!r}" if by is not None else ""),
                subject=str(first.subject),
                fix="give one row per subject and mode (aggregate repeated runs first)",
            )
        paired = table.pivot(index="subject", columns=mode_column, values=metric)
        family: list[dict[str, Any]] = []
        for mode_a, mode_b in pairs:
            row: dict[str, Any] = {} if by is None else {by: group}
            a = _column_or_nan(paired, mode_a)
            b = _column_or_nan(paired, mode_b)
            row.update({"mode_a": mode_a, "mode_b": mode_b})
            row.update(_wilcoxon(a, b))
            family.append(row)
        _holm(family)
        rows += family
    columns = ([by] if by is not None else []) + list(COMPARISON_COLUMNS)
    return pd.DataFrame(rows, columns=columns)


def plot_metric_violins(
    metrics: pd.DataFrame,
    metric: str,
    by: str | None = "site",
    hue: str = "mode",
    *,
    ylabel: str | None = None,
) -> Figure:
    """Violins of ``metric`` per ``by`` group (x axis), one per ``hue`` level within a group.

    ``by=None`` draws one group of all subjects. NaN values are left out; a group with
    a single value (or all equal) is drawn as a line at that value.

    Examples
    --------
    >>> df = pd.DataFrame({"site": ["A"] * 4 + ["B"] * 4, "mode": ["flair", "t1"] * 4,
    ...                    "dice": [0.7, 0.5, 0.8, 0.6, 0.75, 0.55, 0.65, 0.45]})
    >>> fig = plot_metric_violins(df, "dice")
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['A', 'B']
    """
    required = [metric, hue] + ([by] if by is not None else [])
    _require_columns(metrics, required, "metrics")
    group_keys = list(pd.unique(metrics[by])) if by is not None else ["all subjects"]
    hue_levels = list(pd.unique(metrics[hue]))
    colours = _colours(len(hue_levels))
    figure = Figure(figsize=(max(4.0, 1.2 * len(group_keys) * max(1, len(hue_levels))), 4.0))
    axes = figure.subplots()
    slot = 0.8 / max(1, len(hue_levels))
    for g, key in enumerate(group_keys):
        in_group = metrics if by is None else metrics[metrics[by] == key]
        for h, level in enumerate(hue_levels):
            values = in_group.loc[in_group[hue] == level, metric].to_numpy(dtype=np.float64)
            position = g - 0.4 + slot * (h + 0.5)
            _draw_violin(axes, values, position, slot * 0.9, colours[h])
    axes.set_xticks(range(len(group_keys)), [str(k) for k in group_keys])
    axes.set_xlim(-0.6, len(group_keys) - 0.4)
    axes.set_xlabel(by if by is not None else "")
    axes.set_ylabel(ylabel or metric)
    axes.legend(
        handles=[
            Patch(facecolor=colours[h], alpha=0.6, label=str(level))
            for h, level in enumerate(hue_levels)
        ],
        title=hue,
        frameon=False,
    )
    figure.tight_layout()
    return figure


def plot_region_dice(
    region_dice_long: pd.DataFrame, *, region_ids: Sequence[int] | None = None
) -> Figure:
    """One violin of Dice per region (e.g. 34), across subjects.

    Parameters
    ----------
    region_dice_long
        Rows of :func:`wmhmap.metrics.region_dice` for many subjects (columns
        ``region_id``, ``dice``; ``hemisphere`` colours left / right when present).
    region_ids
        Regions to show, in order (e.g. ``table.ids``); default every region id in
        the table, ascending. A region without values keeps its empty slot.

    Examples
    --------
    >>> df = pd.DataFrame({"region_id": [1, 1, 2, 2], "dice": [0.8, 0.9, 0.6, 0.7]})
    >>> [t.get_text() for t in plot_region_dice(df).axes[0].get_xticklabels()]
    ['1', '2']
    """
    _require_columns(region_dice_long, ["region_id", "dice"], "region Dice")
    ids = (
        [int(i) for i in region_ids]
        if region_ids is not None
        else sorted(int(i) for i in pd.unique(region_dice_long["region_id"]))
    )
    hemisphere_colour = {"left": "tab:blue", "right": "tab:orange"}
    figure = Figure(figsize=(max(6.0, 0.32 * len(ids) + 1.5), 4.0))
    axes = figure.subplots()
    for position, region_id in enumerate(ids):
        rows = region_dice_long[region_dice_long["region_id"] == region_id]
        colour = "tab:gray"
        if "hemisphere" in rows.columns and len(rows):
            colour = hemisphere_colour.get(str(rows["hemisphere"].iloc[0]), colour)
        _draw_violin(axes, rows["dice"].to_numpy(dtype=np.float64), position, 0.8, colour)
    axes.set_xticks(range(len(ids)), [str(i) for i in ids], fontsize=7)
    axes.set_xlim(-0.7, len(ids) - 0.3)
    axes.set_ylim(0.0, 1.02)
    axes.set_xlabel("region")
    axes.set_ylabel("Dice")
    if "hemisphere" in region_dice_long.columns:
        present = [h for h in hemisphere_colour if (region_dice_long["hemisphere"] == h).any()]
        if present:
            axes.legend(
                handles=[
                    Patch(facecolor=hemisphere_colour[h], alpha=0.6, label=h) for h in present
                ],
                frameon=False,
            )
    figure.tight_layout()
    return figure


def _draw_violin(
    axes: Axes, values: npt.NDArray[np.float64], position: float, width: float, colour: str
) -> None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    if values.size < 2 or np.ptp(values) == 0:
        # A kernel density of one value (or equal values) is degenerate: draw a line.
        axes.hlines(values[0], position - width / 2, position + width / 2, colors=colour)
        return
    parts = axes.violinplot([values], positions=[position], widths=width, showmedians=True)
    for body in cast(list[Any], parts["bodies"]):
        body.set_facecolor(colour)
        body.set_edgecolor(colour)
        body.set_alpha(0.6)
    for name in ("cmedians", "cmins", "cmaxes", "cbars"):
        if name in parts:
            parts[name].set_color(colour)


def _colours(n: int) -> list[str]:
    palette = [f"C{i}" for i in range(10)]
    return [palette[i % len(palette)] for i in range(n)]


def _column_or_nan(table: pd.DataFrame, column: str) -> pd.Series:
    if column in table.columns:
        return table[column].astype(np.float64)
    return pd.Series(np.nan, index=table.index, dtype=np.float64)


def _wilcoxon(a: pd.Series, b: pd.Series) -> dict[str, Any]:
    both = a.notna() & b.notna()
    n = int(both.sum())
    x = a[both].to_numpy()
    y = b[both].to_numpy()
    if n == 0:
        return {"n": 0, "statistic": math.nan, "p": math.nan}
    if np.all(x == y):
        return {"n": n, "statistic": 0.0, "p": 1.0}
    with warnings.catch_warnings():
        # scipy warns when n is small for its normal approximation; the exact test is used
        # for small n without ties, and the warning says nothing the n column does not.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        result = stats.wilcoxon(x, y)
    return {"n": n, "statistic": float(result.statistic), "p": float(result.pvalue)}


def _holm(rows: list[dict[str, Any]]) -> None:
    """Add ``p_holm`` to each row: Holm-adjusted over the rows with a p (NaN stays NaN)."""
    from statsmodels.stats.multitest import multipletests

    tested = [r for r in rows if not math.isnan(r["p"])]
    adjusted = multipletests([r["p"] for r in tested], method="holm")[1] if tested else []
    for r in rows:
        r["p_holm"] = math.nan
    for r, p in zip(tested, adjusted, strict=True):
        r["p_holm"] = float(p)


def _require_columns(table: pd.DataFrame, columns: Sequence[str], kind: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"{kind} table lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, table.columns)) or 'none'}",
            fix=f"pass a {kind} table with column(s) {', '.join(columns)}",
        )
