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


def assert_no_axes_overlap(figure):
    """No two axes of ``figure`` (tick labels and titles included) overlap by more than
    a pixel; returns the renderer it drew with."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in figure.axes]
    for i, first in enumerate(boxes):
        for second in boxes[i + 1 :]:
            width = min(first.x1, second.x1) - max(first.x0, second.x0)
            height = min(first.y1, second.y1) - max(first.y0, second.y0)
            assert width <= 1 or height <= 1, (first, second)
    return renderer


def test_subject_overlay_shows_the_slices_with_the_most_lesion_and_the_loads() -> None:
    """Lesion and region rows per image on the slices with the most lesion, then the
    subject's largest loads with their intervals as error bars; no two axes overlap."""
    import nibabel as nib

    from wmhmap.overlays import axial_cuts, lesion_region_overlay, top_regional_loads

    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = [-30.0, -30.0, -30.0]
    rng = np.random.default_rng(0)
    background = nib.Nifti1Image(rng.random((30, 30, 20)).astype(np.float32) + 0.1, affine)
    lesions = np.zeros((30, 30, 20), np.uint8)
    lesions[10:14, 10:14, 5] = 1  # 16 voxels
    lesions[10:12, 10:12, 12] = 1  # 4 voxels
    lesions[10, 10, 15] = 1  # 1 voxel
    regions = np.zeros((30, 30, 20), np.uint8)
    regions[5:25, 5:25, 2:18] = 7
    lesion_img = nib.Nifti1Image(lesions, affine)
    # the two slices with most lesion voxels
    assert axial_cuts(lesions > 0, lesions > 0, 2) == [5, 12]
    long = pd.DataFrame(
        {
            "subject": "s",
            "scheme": "jhu34",
            "region_id": [7, 8, 9, 0],
            "region_name": ["a", "b", "c", "outside regions"],
            "hemisphere": ["left", "right", "left", "none"],
            "lesion_mm3": [1200.0, 300.0, 0.0, 50.0],
            "fold_min_mm3": [1100.0, 250.0, 0.0, 0.0],
            "fold_max_mm3": [1300.0, 310.0, 0.0, 60.0],
            "interval_low_mm3": [900.0, 200.0, 0.0, 0.0],
            "interval_high_mm3": [1500.0, 400.0, 8.0, 90.0],
        }
    )
    top = top_regional_loads(long, "s")
    # regions without load are left out; the calibrated interval is preferred
    assert top.region.tolist() == ["L a", "R b"] and top.attrs["interval"] == "calibrated interval"
    assert top[["low_ml", "high_ml"]].to_numpy().tolist() == [[0.9, 1.5], [0.2, 0.4]]
    figure = lesion_region_overlay(
        {"FLAIR": background, "T1w": background},
        lesion_img,
        nib.Nifti1Image(regions, affine),
        cuts=2,
        loads=top,
    )
    titles = [ax.get_title(loc="left") for ax in figure.axes if ax.get_title(loc="left")]
    assert titles == [
        "FLAIR: lesions",
        "FLAIR: regions",
        "T1w: lesions",
        "T1w: regions",
        "largest regional loads",
    ]
    assert len(figure.axes) == 4 * 2 + 1
    bars = figure.axes[-1]
    # the error bars run from each interval's low to its high end (mL)
    (segments,) = [c for c in bars.collections if c.get_segments()]
    ends = sorted(tuple(np.round(seg[:, 0], 6)) for seg in segments.get_segments())
    assert ends == [(0.2, 0.4), (0.9, 1.5)]
    assert_no_axes_overlap(figure)


def _panel_subject(name: str, seed: int, shape=(40, 48, 24), zooms=(2.0, 2.0, 4.0)):
    import nibabel as nib

    from wmhmap.highload import HighLoadSubject

    affine = np.diag([*zooms, 1.0])
    rng = np.random.default_rng(seed)
    head = np.zeros(shape, np.float32)
    head[4:36, 6:42, 2:22] = 1.0 + rng.random((32, 36, 20)).astype(np.float32)
    lesions = np.zeros(shape, np.uint8)
    lesions[10:14, 12:16, 6] = 1  # 16 voxels: the slice with most lesion
    lesions[20:23, 20:23, 15] = 1  # 9 voxels
    lesions[25, 25, 16] = 1  # next to 15: too close for its own column
    regions = np.zeros(shape, np.uint8)
    regions[6:20, 8:40, 3:21] = 5
    regions[20:34, 8:40, 3:21] = 6
    return HighLoadSubject(
        name,
        nib.Nifti1Image(head, affine),
        nib.Nifti1Image(lesions, affine),
        nib.Nifti1Image(regions, affine),
        2.5,
    )


def test_high_load_panel_shows_lesions_and_regions_without_overlap() -> None:
    """The study's Figure 3: per subject a lesion row and a region row on the same
    slices, where the lesions are; no two axes (labels included) overlap and the images
    fill the figure."""

    from wmhmap.highload import high_load_panel
    from wmhmap.overlays import axial_cuts

    subjects = [_panel_subject("a", 0), _panel_subject("b", 1), _panel_subject("c", 2)]
    lesions = np.asarray(subjects[0].lesions.dataobj) > 0
    assert axial_cuts(lesions, lesions, 2) == [6, 15]
    figure = high_load_panel(subjects, cuts=3)
    axes = figure.axes
    assert len(axes) == 2 * 3 * 3
    renderer = assert_no_axes_overlap(figure)
    # the images fill the figure: no large empty margin
    area = sum(
        ax.get_window_extent(renderer).width * ax.get_window_extent(renderer).height for ax in axes
    )
    assert area / (figure.bbox.width * figure.bbox.height) > 0.6
    # row labels name the subject and its load; the second row of each shows regions
    labels = [ax.get_ylabel() for ax in axes if ax.get_ylabel()]
    assert labels[:2] == ["sub-a\n2.5 mL\nlesions", "regions"]
    lesion_row, region_row = axes[0:3], axes[3:6]
    assert all(ax.images[1].get_array().max() == 1 for ax in lesion_row[:2])
    assert {int(v) for v in np.unique(region_row[0].images[1].get_array().compressed())} == {5, 6}


def test_high_load_panel_draws_each_subjects_regional_loads_with_the_folds_range() -> None:
    """Beside each subject's slices: its largest regional loads, error bars spanning the
    folds' range (per-region uncertainty), clear of every other axis."""
    import dataclasses

    import pandas as pd

    from wmhmap.highload import high_load_panel

    loads = pd.DataFrame(
        {
            "region": ["L a", "R b"],
            "load_ml": [1.5, 0.5],
            "low_ml": [1.0, 0.5],
            "high_ml": [2.5, 0.5],
        }
    )
    subjects = [
        dataclasses.replace(_panel_subject(name, k), loads=loads) for k, name in enumerate("abc")
    ]
    figure = high_load_panel(subjects, cuts=3)
    assert_no_axes_overlap(figure)
    assert len(figure.axes) == 2 * 3 * 3 + 3
    bars = figure.axes[-1]
    assert sorted(t.get_text() for t in bars.get_yticklabels()) == ["L a", "R b"]
    # the error bar of "L a" spans its folds' range, 1.0 to 2.5 mL
    segments = bars.collections[0].get_segments()
    spans = sorted((min(s[:, 0]), max(s[:, 0])) for s in segments)
    assert spans[-1] == (1.0, 2.5)


def test_zone_figure_draws_a_bullseye_per_diagnosis_or_one_for_a_cohort_without():
    from wmhmap.stats.zonefigures import plot_zone_loads

    subjects = ["a", "b", "c", "d"]
    bullseye = pd.DataFrame(
        {"subject": subjects, **{f"bullseye_{i:02d}": [100.0 * i] * 4 for i in range(1, 37)}}
    )
    pvdeep = pd.DataFrame(
        {"subject": subjects, "pvdeep_01": [500.0, 300, 100, 50], "pvdeep_02": 10.0}
    )
    meta = pd.DataFrame({"subject": subjects, "diagnosis": ["AD", "CN", "AD", None]})
    figure = plot_zone_loads(pvdeep, bullseye, meta, pvdeep_names=["pv", "deep"])
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == ["CN (n = 1)", "AD (n = 2)", "no diagnosis (n = 1)", "periventricular / deep"]
    # diagnoses are optional in a sample sheet: one group of every subject
    figure = plot_zone_loads(pvdeep, bullseye, meta[["subject"]], pvdeep_names=["pv", "deep"])
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == ["all subjects (n = 4)", "periventricular / deep"]
