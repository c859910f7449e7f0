"""Checks that need a full demo run (``make demo``, 30 subjects): group statistics the
tests config's 6 subjects are too few for. Set ``WMHMAP_DEMO_RESULTS`` to the run's
results folder; skipped without it (as the real-data tests are without
``../shared/data``)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr

from wmhmap.intervals import held_out_coverage

REPO = Path(__file__).resolve().parents[1]
DEMO = os.environ.get("WMHMAP_DEMO_RESULTS")
needs_demo = pytest.mark.skipif(not DEMO, reason="set WMHMAP_DEMO_RESULTS to a make demo run")

# The demo plants the diagnosis-specific load in the study's AD-vs-CN regions:
# 1 and 7 (left), 11, 22, 29 and 33 (config.yaml, demo.lesions.signal_regions).
SIGNAL = {1, 7, 11, 22, 29, 33}


def results() -> Path:
    return Path(str(DEMO))


def test_the_demo_plants_its_signal_in_the_regions_named_here():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert set(config["demo"]["lesions"]["signal_regions"]) == SIGNAL


@needs_demo
def test_the_ad_lesion_frequency_map_peaks_in_the_planted_signal_regions():
    """The workflow's own group maps (masks carried into the atlas): AD's most frequent
    region is a signal region, and the regions where AD exceeds CN most are."""
    table = pd.read_csv(results() / "group" / "stats" / "lesion_frequency_regions.tsv", sep="\t")
    regions = table[table.region_id > 0]
    mean = {
        g: regions[regions.group == f"diagnosis-{g}"].set_index("region_id").mean_frequency
        for g in ("AD", "CN")
    }
    assert mean["AD"].idxmax() in SIGNAL, mean["AD"].sort_values().tail(6)
    gap = (mean["AD"] - mean["CN"]).sort_values(ascending=False)
    assert len(set(gap.index[:6]) & SIGNAL) >= 4, gap.head(6)


@needs_demo
def test_load_intervals_hold_the_expert_load_on_held_out_subjects():
    """Calibrated on the training subjects' held-out folds, the intervals hold the
    expert's regional load of the held-out subjects at least as often as promised (for
    loads >= 0.1 mL), and the folds' spread is wider where the error is larger."""
    long = pd.read_csv(results() / "group" / "regional_loads_long.tsv", sep="\t")
    target = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["loads"][
        "interval_coverage"
    ]
    jhu = long[long.scheme == "jhu34"]
    (row,) = held_out_coverage(jhu, min_mm3=100.0).itertuples()
    assert row.pairs >= 100 and row.covered >= target, row
    held = jhu[jhu.held_out_mm3.isna() & jhu.reference_mm3.notna()]
    error = (held.lesion_mm3 - held.reference_mm3).abs()
    assert spearmanr(held.fold_sd_mm3, error).statistic > 0
