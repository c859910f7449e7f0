"""Cohort-level evaluation: summary tables, Wilcoxon tests between modes, figures."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from wmhmap.errors import InputError
from wmhmap.evaluation import (
    compare_modes,
    format_mean_sd,
    plot_metric_violins,
    plot_region_dice,
    summarize_metrics,
)


def violin_bodies(figure):
    return [c for c in figure.axes[0].collections if isinstance(c, PolyCollection)]


def renders(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue().startswith(b"\x89PNG")


@pytest.fixture
def cohort():
    """Two sites, three subjects each, three modes; one missing HD95."""
    rows = []
    dice = {
        "flair": [0.70, 0.80, 0.75, 0.85, 0.65, 0.77],
        "t1": [0.50, 0.61, 0.53, 0.60, 0.58, 0.56],
    }
    dice["fused"] = [d + 0.01 for d in dice["flair"]]
    for mode, values in dice.items():
        for i, value in enumerate(values):
            hd = math.nan if (mode, i) == ("t1", 0) else 2.0 + i
            rows.append(
                {
                    "subject": f"s{i}",
                    "site": "A" if i < 3 else "B",
                    "mode": mode,
                    "dice": value,
                    "hd95": hd,
                }
            )
    return pd.DataFrame(rows)


def test_format_mean_sd():
    assert format_mean_sd(0.7712, 0.0803) == "0.77 ± 0.08"
    assert format_mean_sd(12.345, 1.0, decimals=1) == "12.3 ± 1.0"
    assert format_mean_sd(math.nan, math.nan) == "n/a ± n/a"


def test_summarize_metrics_by_mode(cohort):
    summary = summarize_metrics(cohort, "mode")
    assert summary["mode"].tolist() == ["flair", "t1", "fused"]
    assert summary["n"].tolist() == [6, 6, 6]
    flair = summary.iloc[0]
    values = np.array([0.70, 0.80, 0.75, 0.85, 0.65, 0.77])
    assert flair.dice_mean == pytest.approx(values.mean())  # 0.7533
    assert flair.dice_sd == pytest.approx(values.std(ddof=1))  # 0.0706
    assert flair.dice_mean_sd == "0.75 ± 0.07"
    # NaN is skipped: t1 HD95 over subjects 1..5 = 3..7 mm -> 5.00 ± 1.58
    assert summary.iloc[1].hd95_mean_sd == "5.00 ± 1.58"
    assert [c for c in summary.columns if c.startswith("dice")] == [
        "dice_mean",
        "dice_sd",
        "dice_mean_sd",
    ]


def test_summarize_metrics_by_site_and_mode(cohort):
    summary = summarize_metrics(cohort, ["site", "mode"], columns=["dice"], decimals=3)
    assert summary[["site", "mode"]].to_numpy().tolist()[:3] == [
        ["A", "flair"],
        ["B", "flair"],
        ["A", "t1"],
    ]
    assert len(summary) == 6 and (summary.n == 3).all()
    # site A, flair: 0.70, 0.80, 0.75 -> mean 0.75, SD 0.05
    assert summary.iloc[0].dice_mean_sd == "0.750 ± 0.050"
    with pytest.raises(InputError, match="lacks column"):
        summarize_metrics(cohort, "scanner")


def test_wilcoxon_on_a_known_example():
    # flair - t1 differences 1, -2, 3, 4, 5: signed ranks +1, -2, +3, +4, +5, so W+ = 13,
    # W- = 2 and the statistic is 2. Exact null distribution for n = 5: 3 of the 32 sign
    # patterns have W- <= 2 ({}, {1}, {2}); two-sided p = 2 * 3 / 32 = 0.1875.
    df = pd.DataFrame(
        {
            "subject": list("abcde") * 2,
            "mode": ["flair"] * 5 + ["t1"] * 5,
            "dice": [11.0, 10.0, 13.0, 14.0, 15.0, 10.0, 12.0, 10.0, 10.0, 10.0],
        }
    )
    result = compare_modes(df, "dice")
    assert result.columns.tolist() == ["mode_a", "mode_b", "n", "statistic", "p", "p_holm"]
    row = result.iloc[0]
    assert (row.mode_a, row.mode_b, row.n, row.statistic) == ("flair", "t1", 5, 2.0)
    assert row.p == pytest.approx(0.1875)
    assert row.p_holm == pytest.approx(0.1875)  # a single test: nothing to adjust


def test_compare_modes_pairs_by_subject_and_drops_nans_pairwise(cohort):
    shuffled = cohort.sample(frac=1.0, random_state=0)  # pairing must not rely on row order
    result = compare_modes(shuffled, "hd95", pairs=[("flair", "t1")])
    assert result.iloc[0].n == 5  # t1 of s0 is NaN
    # hd95 is equal in both modes for every remaining subject: no evidence of a difference
    assert (result.iloc[0].statistic, result.iloc[0].p) == (0.0, 1.0)
    every_pair = compare_modes(cohort, "dice")
    assert every_pair[["mode_a", "mode_b"]].to_numpy().tolist() == [
        ["flair", "t1"],
        ["flair", "fused"],
        ["t1", "fused"],
    ]
    # all 6 flair > t1: statistic 0, exact p = 2 / 2**6
    assert every_pair.iloc[0].statistic == 0.0
    assert every_pair.iloc[0].p == pytest.approx(2 / 64)
    # Holm over the three pairs: the i-th smallest p times (4 - i), kept non-decreasing
    ps = every_pair.p.tolist()
    order = sorted(range(3), key=ps.__getitem__)
    expected, running = [0.0] * 3, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * ps[i]))
        expected[i] = running
    assert every_pair.p_holm.tolist() == pytest.approx(expected)
    assert every_pair.p_holm.iloc[0] == pytest.approx(3 * 2 / 64)  # the smallest p


def test_compare_modes_per_site(cohort):
    result = compare_modes(cohort, "dice", pairs=[("flair", "t1")], by="site")
    assert result.columns.tolist() == [
        "site",
        "mode_a",
        "mode_b",
        "n",
        "statistic",
        "p",
        "p_holm",
    ]
    assert result.site.tolist() == ["A", "B"] and result.n.tolist() == [3, 3]
    assert result.p.tolist() == pytest.approx([0.25, 0.25])  # n = 3, all positive: 2 / 8
    # one pair per site: each site is its own family, nothing to adjust
    assert result.p_holm.tolist() == pytest.approx([0.25, 0.25])


def test_compare_modes_errors(cohort):
    with pytest.raises(InputError, match="mode 'dwi'"):
        compare_modes(cohort, "dice", pairs=[("flair", "dwi")])
    with pytest.raises(InputError, match="more than one dice value"):
        compare_modes(pd.concat([cohort, cohort.iloc[:1]]), "dice")


def test_compare_modes_without_pairs_gives_nan():
    df = pd.DataFrame({"subject": ["a", "b"], "mode": ["flair", "t1"], "dice": [0.5, 0.6]})
    row = compare_modes(df, "dice").iloc[0]
    assert row.n == 0 and math.isnan(row.statistic) and math.isnan(row.p)


def test_plot_metric_violins(cohort):
    figure = plot_metric_violins(cohort, "dice", by="site", hue="mode")
    assert isinstance(figure, Figure)
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["A", "B"]
    assert len(violin_bodies(figure)) == 2 * 3
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == [
        "flair",
        "t1",
        "fused",
    ]
    assert renders(figure)
    one_group = plot_metric_violins(cohort, "hd95", by=None)
    assert len(violin_bodies(one_group)) == 3 and renders(one_group)


def test_plot_region_dice_draws_one_violin_per_region():
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        {
            "subject": np.repeat([f"s{i}" for i in range(5)], 34),
            "region_id": np.tile(np.arange(1, 35), 5),
            "hemisphere": np.tile(["left"] * 17 + ["right"] * 17, 5),
            "dice": rng.uniform(0.5, 0.95, 170),
        }
    )
    figure = plot_region_dice(rows)
    assert len(violin_bodies(figure)) == 34
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == [
        str(i) for i in range(1, 35)
    ]
    assert renders(figure)
