"""The paper's figures, drawn from the statistics tables (stage 8).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
figure state, no display backend needed); :func:`save_figure` writes it as PNG and PDF.

The Bland-Altman plot draws its own lines rather than calling statsmodels'
``mean_diff_plot``: that function uses the population SD (ddof = 0), so its limits would
disagree with :func:`wmhmap.stats.agreement.bland_altman`, and it clips the y axis at
about ±3 SD, hiding exactly the outlying subjects a validation figure must show.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure

from wmhmap.errors import InputError
from wmhmap.regions import RegionTable
from wmhmap.stats import region_id, require_columns, with_subject_ids
from wmhmap.stats.agreement import MM3_PER_ML, bland_altman

DIAGNOSIS_COLOURS = {"CN": "#1b9e77", "MCI": "#7570b3", "AD": "#d95f02"}
OTHER_COLOURS = ("#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4")
UNKNOWN = "unknown"
UNKNOWN_COLOUR = "#999999"
FEATURE_SET_COLOURS = {
    "global": "#7f7f7f",
    "regional": "#1f77b4",
    "brain": "#2ca02c",
    "regional+brain": "#d62728",
}


def plot_bland_altman(
    predicted: npt.ArrayLike,
    reference: npt.ArrayLike,
    diagnosis: Sequence[object] | None = None,
    *,
    log: bool = False,
    log_offset: float = 0.0,
    units: str = "mL",
    coverage: float = 0.95,
    confidence: float = 0.95,
) -> Figure:
    """Bland-Altman plot: difference against mean, points coloured by diagnosis.

    Draws the bias and the limits of agreement with their confidence intervals (shaded)
    and the proportional-bias regression line. With ``log=True`` the axes are log
    volumes and the labels give the back-transformed ratios.
    """
    result = bland_altman(
        predicted,
        reference,
        log=log,
        log_offset=log_offset,
        coverage=coverage,
        confidence=confidence,
    )
    groups = _groups(diagnosis, len(result.used))[result.used]
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    for name, colour in _group_colours(groups).items():
        chosen = groups == name
        ax.scatter(
            result.means[chosen],
            result.differences[chosen],
            s=18,
            alpha=0.8,
            color=colour,
            label=f"{name} (n={chosen.sum()})",
        )
    level = f"{confidence:.0%} CI"
    for value, low, high, text in (
        (result.bias, result.bias_ci_low, result.bias_ci_high, "bias"),
        (result.lower, result.lower_ci_low, result.lower_ci_high, "lower limit"),
        (result.upper, result.upper_ci_low, result.upper_ci_high, "upper limit"),
    ):
        ax.axhline(value, color="black", linestyle="-" if text == "bias" else "--", linewidth=1)
        ax.axhspan(low, high, color="black", alpha=0.08, linewidth=0)
        shown = f"{text}: {value:.3g}"
        if log:
            shown += f" (ratio {np.exp(value):.3g})"
        ax.annotate(
            shown,
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            fontsize=8,
        )
    span = np.linspace(result.means.min(), result.means.max(), 2)
    ax.plot(
        span,
        result.intercept + result.slope * span,
        color="tab:red",
        linewidth=1,
        label=f"trend: slope {result.slope:.3g} (p={result.slope_p:.2g})",
    )
    if log:
        shift = f" + {log_offset:g}" if log_offset else ""
        ax.set_xlabel(f"mean of log(volume{shift}), volume in {units}")
        ax.set_ylabel("log(predicted) − log(reference)")
    else:
        ax.set_xlabel(f"mean of predicted and reference ({units})")
        ax.set_ylabel(f"predicted − reference ({units})")
    ax.set_title(
        f"Bland–Altman, n={result.n}; shaded: {level} (limits: {coverage:.0%} of differences)"
    )
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_predicted_vs_reference(
    predicted: npt.ArrayLike,
    reference: npt.ArrayLike,
    diagnosis: Sequence[object] | None = None,
    *,
    units: str = "mL",
) -> Figure:
    """Scatter of predicted against reference volume with the identity line."""
    pred = np.asarray(predicted, dtype=float)
    ref = np.asarray(reference, dtype=float)
    used = np.isfinite(pred) & np.isfinite(ref)
    groups = _groups(diagnosis, pred.size)[used]
    pred, ref = pred[used], ref[used]
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    for name, colour in _group_colours(groups).items():
        chosen = groups == name
        ax.scatter(
            ref[chosen],
            pred[chosen],
            s=18,
            alpha=0.8,
            color=colour,
            label=f"{name} (n={chosen.sum()})",
        )
    top = float(max(pred.max(initial=0.0), ref.max(initial=0.0))) * 1.05 or 1.0
    ax.plot([0, top], [0, top], color="black", linewidth=1, linestyle="--", label="identity")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel(f"reference volume ({units})")
    ax.set_ylabel(f"predicted volume ({units})")
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_load_distributions(
    wide: pd.DataFrame,
    meta: pd.DataFrame,
    by: str = "diagnosis",
    *,
    column: str = "global_mm3",
    seed: int = 0,
) -> Figure:
    """Box plots of a load (default: global, shown in mL) per cohort group, points overlaid.

    ``by`` is a sample-sheet column such as ``diagnosis`` or ``site``; subjects without a
    value form an ``unknown`` group. The horizontal jitter of the points is seeded.
    """
    require_columns(wide, ["subject", column], table_name="loads table")
    require_columns(meta, ["subject", by], table_name="sample sheet")
    merged = with_subject_ids(wide, table_name="loads table")[["subject", column]].merge(
        with_subject_ids(meta, table_name="sample sheet")[["subject", by]], on="subject"
    )
    groups = _groups(merged[by].tolist(), len(merged))
    values = merged[column].to_numpy(dtype=float)
    if column.endswith("_mm3"):
        values = values / MM3_PER_ML
        label = column.removesuffix("_mm3").replace("_", " ") + " lesion volume (mL)"
    else:
        label = column
    names = list(_group_colours(groups)) if by == "diagnosis" else _sorted_groups(groups)
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(max(4.0, 1.2 * len(names) + 2), 4.5), layout="constrained")
    ax = fig.subplots()
    data = [values[(groups == name) & np.isfinite(values)] for name in names]
    ax.boxplot(data, showfliers=False, widths=0.5, medianprops={"color": "black"})
    colours = _group_colours(groups) if by == "diagnosis" else {}
    for position, (name, points) in enumerate(zip(names, data, strict=True), start=1):
        jitter = rng.uniform(-0.15, 0.15, points.size)
        ax.scatter(position + jitter, points, s=12, alpha=0.7, color=colours.get(name, "tab:blue"))
    ax.set_xticks(
        range(1, len(names) + 1), [f"{n}\n(n={d.size})" for n, d in zip(names, data, strict=True)]
    )
    ax.set_xlabel(by)
    ax.set_ylabel(label)
    return fig


def plot_roc_curves(roc: pd.DataFrame, auc: pd.DataFrame) -> Figure:
    """ROC curves: one panel per task, one curve per feature set, AUC [CI] in the legend.

    ``roc`` and ``auc`` are the tables of :func:`wmhmap.stats.classification.classify`.
    Each panel also holds the chance diagonal.
    """
    require_columns(roc, ["task", "feature_set", "fpr", "tpr"], table_name="ROC table")
    require_columns(
        auc, ["task", "feature_set", "auc", "ci_low", "ci_high"], table_name="AUC table"
    )
    tasks = list(dict.fromkeys(roc["task"]))
    if not tasks:
        raise InputError("the ROC table is empty", fix="run the classification first")
    fig = Figure(figsize=(4.2 * len(tasks), 4.4), layout="constrained")
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    summary = auc.set_index(["task", "feature_set"])
    for ax, task in zip(axes, tasks, strict=True):
        curves = roc[roc["task"] == task]
        for feature_set in dict.fromkeys(curves["feature_set"]):
            points = curves[curves["feature_set"] == feature_set]
            row = summary.loc[(task, feature_set)]
            ax.plot(
                points["fpr"],
                points["tpr"],
                color=FEATURE_SET_COLOURS.get(feature_set),
                linewidth=1.5,
                label=f"{feature_set}: {row['auc']:.2f} "
                f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]",
            )
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        ax.set_title(task)
        ax.set_xlabel("1 − specificity")
        ax.set_ylabel("sensitivity")
        ax.legend(title="AUC [95% CI]", fontsize=7, title_fontsize=7, loc="lower right")
    return fig


def plot_silhouette(silhouette: pd.DataFrame, k: int | None = None) -> Figure:
    """Mean silhouette coefficient against the number of clusters; ``k`` is marked."""
    require_columns(silhouette, ["k", "silhouette"], table_name="silhouette table")
    fig = Figure(figsize=(4.5, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(silhouette["k"], silhouette["silhouette"], marker="o", color="tab:blue")
    if k is not None:
        chosen = silhouette[silhouette["k"] == k]
        ax.scatter(chosen["k"], chosen["silhouette"], s=120, facecolors="none", edgecolors="red")
        ax.axvline(k, color="red", linestyle=":", linewidth=1)
    ax.set_xticks(silhouette["k"].tolist())
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("mean silhouette coefficient")
    return fig


def plot_lesion_frequency(frequency: pd.DataFrame, regions: RegionTable | None = None) -> Figure:
    """Heat map of regional lesion frequency per cluster, left regions then right regions.

    ``frequency`` is :func:`wmhmap.stats.clustering.lesion_frequency`'s table. With a
    region table the columns are labelled by id and name and grouped by hemisphere.
    """
    require_columns(frequency, ["cluster"], table_name="lesion frequency table")
    columns = [c for c in frequency.columns if c != "cluster"]
    ordered, boundaries = _hemisphere_order(columns, regions)
    values = frequency[ordered].to_numpy(dtype=float)
    fig = Figure(figsize=(max(6.0, 0.28 * len(ordered) + 2), 1.0 + 0.45 * len(frequency) + 2.2))
    fig.set_layout_engine("constrained")
    ax = fig.subplots()
    image = ax.imshow(values, aspect="auto", vmin=0.0, vmax=1.0, cmap="magma_r")
    ax.set_yticks(range(len(frequency)), [f"cluster {c}" for c in frequency["cluster"]])
    ax.set_xticks(range(len(ordered)), [_short_label(c, regions) for c in ordered], rotation=90)
    ax.tick_params(axis="x", labelsize=7)
    for position, text in boundaries:
        if position > 0:
            ax.axvline(position - 0.5, color="white", linewidth=2)
        ax.annotate(
            text,
            xy=(position - 0.5, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=8,
        )
    fig.colorbar(image, ax=ax, label="share with lesion")
    return fig


def plot_coefficients(
    coefficients: pd.DataFrame,
    *,
    feature_set: str = "regional",
    regions: RegionTable | None = None,
    use_fdr: bool = False,
) -> Figure:
    """Log-odds per SD (± 1.96 SE) of the significant features, one panel per task.

    ``coefficients`` is the ``coefficients`` table of
    :func:`~wmhmap.stats.classification.classify`. Significant means ``p < 0.05``
    (``p_fdr`` with ``use_fdr``). Features tested with a likelihood-ratio test because
    they separate the classes have no coefficient; they are listed under the panel.
    """
    require_columns(
        coefficients,
        ["task", "feature_set", "feature", "coef", "se", "significant", "significant_fdr"],
        table_name="coefficient table",
    )
    table = coefficients[coefficients["feature_set"] == feature_set]
    tasks = list(dict.fromkeys(table["task"]))
    if not tasks:
        raise InputError(
            f"the coefficient table has no rows for feature set {feature_set!r}",
            fix="choose a feature set that the classification ran",
        )
    flag = "significant_fdr" if use_fdr else "significant"
    fig = Figure(figsize=(4.2 * len(tasks), 5), layout="constrained")
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks, strict=True):
        rows = table[(table["task"] == task) & table[flag].astype(bool)]
        estimable = rows[np.isfinite(rows["coef"].to_numpy(dtype=float))]
        positions = np.arange(len(estimable))
        ax.errorbar(
            estimable["coef"],
            positions,
            xerr=1.96 * estimable["se"].to_numpy(dtype=float),
            fmt="o",
            color="tab:blue",
            capsize=3,
        )
        ax.axvline(0.0, color="grey", linewidth=1)
        ax.set_yticks(positions, [_short_label(f, regions) for f in estimable["feature"]])
        ax.set_ylim(-1, max(len(estimable), 1))
        ax.invert_yaxis()
        ax.set_title(task)
        ax.set_xlabel("log-odds per SD (± 1.96 SE)")
        separated = rows.loc[~rows.index.isin(estimable.index), "feature"]
        note = "none significant" if rows.empty else ""
        if len(separated):
            note = "separating: " + ", ".join(_short_label(f, regions) for f in separated)
        if note:
            ax.annotate(note, xy=(0.5, 0.02), xycoords="axes fraction", ha="center", fontsize=8)
    return fig


def save_figure(fig: Figure, stem: str | Path, *, dpi: int = 200) -> tuple[Path, Path]:
    """Write ``fig`` to ``<stem>.png`` and ``<stem>.pdf`` (folders created); return both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")
    fig.savefig(png, dpi=dpi)
    fig.savefig(pdf)
    return png, pdf


def _groups(labels: Sequence[object] | None, n: int) -> npt.NDArray[np.str_]:
    """Group names as text (``all`` without labels), missing ones as ``unknown``."""
    if labels is None:
        return np.full(n, "all")
    series = pd.Series(list(labels), dtype="string").str.strip()
    if len(series) != n:
        raise InputError(
            f"{len(series)} group labels for {n} subjects", fix="pass one label per subject"
        )
    return series.fillna(UNKNOWN).replace("", UNKNOWN).to_numpy(dtype=str)


def _group_colours(groups: npt.NDArray[np.str_]) -> dict[str, str]:
    """Colour per group present: CN, MCI, AD first, other groups, then unknown."""
    present = set(groups.tolist())
    colours = {name: colour for name, colour in DIAGNOSIS_COLOURS.items() if name in present}
    others = sorted(present - set(DIAGNOSIS_COLOURS) - {UNKNOWN})
    for index, name in enumerate(others):
        colours[name] = OTHER_COLOURS[index % len(OTHER_COLOURS)]
    if UNKNOWN in present:
        colours[UNKNOWN] = UNKNOWN_COLOUR
    return colours


def _sorted_groups(groups: npt.NDArray[np.str_]) -> list[str]:
    names = sorted(set(groups.tolist()) - {UNKNOWN})
    return names + ([UNKNOWN] if UNKNOWN in groups else [])


def _hemisphere_order(
    columns: list[str], regions: RegionTable | None
) -> tuple[list[str], list[tuple[int, str]]]:
    """Columns ordered left, right, other (each by id) and where each hemisphere starts."""
    if regions is None:
        return sorted(columns, key=region_id), []
    known = {r.region_id: r.hemisphere for r in regions}
    ordered: list[str] = []
    boundaries: list[tuple[int, str]] = []
    for hemisphere in ("left", "right", None):
        members = sorted(
            (
                c
                for c in columns
                if (known.get(region_id(c)) == hemisphere)
                or (hemisphere is None and known.get(region_id(c)) not in {"left", "right"})
            ),
            key=region_id,
        )
        if members:
            boundaries.append((len(ordered), hemisphere or "other"))
            ordered += members
    return ordered, boundaries


def _short_label(column: str, regions: RegionTable | None) -> str:
    """``"7 L occipital WM"`` for a region column with a table, else the column name."""
    try:
        rid = region_id(column)
    except InputError:
        return column
    if regions is None:
        return column
    try:
        return f"{rid} {regions.by_id(rid).label}"
    except KeyError:
        return column
