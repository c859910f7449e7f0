"""Figures: each function returns a Figure with the expected panels and lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from wmhmap.errors import InputError
from wmhmap.regions import Region, RegionTable
from wmhmap.stats.figures import (
    plot_bland_altman,
    plot_coefficients,
    plot_lesion_frequency,
    plot_load_distributions,
    plot_predicted_vs_reference,
    plot_roc_curves,
    plot_silhouette,
    save_figure,
)

REGIONS = RegionTable(
    (
        Region(1, "left", "frontal", ()),
        Region(2, "left", "parietal", ()),
        Region(18, "right", "frontal", ()),
        Region(19, "right", "parietal", ()),
    )
)
TASKS = ["AD vs CN", "AD vs MCI", "MCI vs CN"]
SETS = ["global", "regional"]


def volumes(n: int = 30) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.5, 20.0, n)
    predicted = reference * 1.05 + rng.normal(0, 0.5, n)
    diagnosis: list[str | None] = [*(["CN", "MCI", "AD"] * n)[: n - 1], None]
    return np.clip(predicted, 0.1, None), reference, diagnosis


def legend_texts(fig: Figure) -> list[str]:
    legend = fig.axes[0].get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def test_bland_altman_plot_colours_points_by_diagnosis() -> None:
    predicted, reference, diagnosis = volumes()
    fig = plot_bland_altman(predicted, reference, diagnosis)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.collections) == 4  # CN, MCI, AD, unknown
    assert [t.split(" ")[0] for t in legend_texts(fig)] == ["CN", "MCI", "AD", "unknown", "trend:"]
    assert len(ax.lines) == 4  # bias, two limits, trend
    log_fig = plot_bland_altman(predicted, reference, diagnosis, log=True)
    assert "log" in log_fig.axes[0].get_ylabel()


def test_predicted_vs_reference_has_identity_line() -> None:
    predicted, reference, diagnosis = volumes()
    fig = plot_predicted_vs_reference(predicted, reference, diagnosis)
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and len(ax.collections) == 4
    np.testing.assert_allclose(ax.lines[0].get_xdata(), ax.lines[0].get_ydata())


def test_load_distributions_have_one_box_per_group() -> None:
    wide = pd.DataFrame({"subject": list("abcdef"), "global_mm3": [1e3, 2e3, 5e3, 8e3, 1e4, 0.0]})
    meta = pd.DataFrame(
        {"subject": list("abcdef"), "diagnosis": ["CN", "CN", "MCI", "AD", "AD", None]}
    )
    meta["site"] = ["x", "y", "x", "y", "x", "y"]
    fig = plot_load_distributions(wide, meta)
    ax = fig.axes[0]
    labels = [t.get_text().split("\n")[0] for t in ax.get_xticklabels()]
    assert labels == ["CN", "MCI", "AD", "unknown"]
    assert len(ax.collections) == 4
    assert ax.get_ylabel() == "global lesion volume (mL)"
    by_site = plot_load_distributions(wide, meta, by="site")
    assert [t.get_text().split("\n")[0] for t in by_site.axes[0].get_xticklabels()] == ["x", "y"]


def roc_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    roc = pd.DataFrame(
        [
            {"task": t, "feature_set": s, "fpr": x, "tpr": min(1.0, x * 1.5)}
            for t in TASKS
            for s in SETS
            for x in (0.0, 0.5, 1.0)
        ]
    )
    auc = pd.DataFrame(
        [
            {"task": t, "feature_set": s, "auc": 0.7, "ci_low": 0.6, "ci_high": 0.8}
            for t in TASKS
            for s in SETS
        ]
    )
    return roc, auc


def test_roc_figure_has_a_panel_per_task_and_a_curve_per_feature_set() -> None:
    fig = plot_roc_curves(*roc_tables())
    assert len(fig.axes) == 3
    for ax, task in zip(fig.axes, TASKS, strict=True):
        assert ax.get_title() == task
        assert len(ax.lines) == len(SETS) + 1  # + chance diagonal
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert texts == ["global: 0.70 [0.60, 0.80]", "regional: 0.70 [0.60, 0.80]"]


def test_silhouette_plot_marks_the_chosen_k() -> None:
    silhouette = pd.DataFrame({"k": [2, 3, 4], "silhouette": [0.4, 0.6, 0.3]})
    fig = plot_silhouette(silhouette, k=3)
    ax = fig.axes[0]
    assert len(ax.lines) == 2  # curve + marker line at k
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.4, 0.6, 0.3])


def test_lesion_frequency_heat_map_groups_left_then_right() -> None:
    frequency = pd.DataFrame(
        {
            "cluster": [1, 2],
            "region_18": [0.1, 0.2],
            "region_01": [0.3, 0.4],
            "region_19": [0.5, 0.6],
            "region_02": [0.7, 0.8],
        }
    )
    fig = plot_lesion_frequency(frequency, REGIONS)
    assert len(fig.axes) == 2  # heat map + colour bar
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["1 L frontal", "2 L parietal", "18 R frontal", "19 R parietal"]
    np.testing.assert_allclose(
        ax.images[0].get_array(), [[0.3, 0.7, 0.1, 0.5], [0.4, 0.8, 0.2, 0.6]]
    )
    plain = plot_lesion_frequency(frequency)
    assert plain.axes[0].get_xticklabels()[0].get_text() == "region_01"


def test_coefficient_plot_shows_significant_regions_per_task() -> None:
    rows = []
    for task in TASKS[:2]:
        for feature, coef, p in (("region_01", 1.2, 0.01), ("region_02", 0.1, 0.6)):
            rows.append(
                {
                    "task": task,
                    "feature_set": "regional",
                    "feature": feature,
                    "coef": coef,
                    "se": 0.4,
                    "significant": p < 0.05,
                    "significant_fdr": False,
                }
            )
    table = pd.DataFrame(rows)
    fig = plot_coefficients(table, regions=REGIONS)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["1 L frontal"]
    fdr = plot_coefficients(table, use_fdr=True)
    assert fdr.axes[0].texts[0].get_text() == "none significant"
    with pytest.raises(InputError, match="feature set 'brain'"):
        plot_coefficients(table, feature_set="brain")


def test_save_figure_writes_png_and_pdf(tmp_path: Path) -> None:
    fig = plot_silhouette(pd.DataFrame({"k": [2, 3], "silhouette": [0.5, 0.4]}), k=2)
    png, pdf = save_figure(fig, tmp_path / "figures" / "silhouette")
    assert png.name == "silhouette.png" and pdf.name == "silhouette.pdf"
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000


def test_subject_overlay_shows_the_slices_with_the_most_lesion() -> None:
    import nibabel as nib

    from wmhmap.qc import _lesion_cuts, high_load_panel, lesion_region_overlay

    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = [-30.0, -30.0, -30.0]
    rng = np.random.default_rng(0)
    background = nib.Nifti1Image(rng.random((30, 30, 20)).astype(np.float32), affine)
    lesions = np.zeros((30, 30, 20), np.uint8)
    lesions[10:14, 10:14, 5] = 1  # 16 voxels
    lesions[10:12, 10:12, 12] = 1  # 4 voxels
    lesions[10, 10, 15] = 1  # 1 voxel
    regions = np.zeros((30, 30, 20), np.uint8)
    regions[5:25, 5:25, 2:18] = 7
    lesion_img = nib.Nifti1Image(lesions, affine)
    # the two slices with most lesion voxels, in world z (-30 + 3 k), ascending
    assert _lesion_cuts(lesion_img, lesion_img, 2) == [-15.0, 6.0]
    figure = lesion_region_overlay(
        {"FLAIR": background, "T1w": background},
        lesion_img,
        nib.Nifti1Image(regions, affine),
        cuts=2,
    )
    titles = [ax.get_title(loc="left") for ax in figure.axes if ax.get_title(loc="left")]
    assert titles == ["FLAIR: lesions", "FLAIR: regions", "T1w: lesions", "T1w: regions"]
    panel = high_load_panel([("a", background, lesion_img, 0.06)], cuts=2)
    assert [ax.get_title(loc="left") for ax in panel.axes if ax.get_title(loc="left")] == [
        "sub-a: 0.1 mL"
    ]
