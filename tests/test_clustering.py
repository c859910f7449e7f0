"""Clustering of normalised regional loads: known groups, group table, heat map data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from wmhmap.errors import InputError
from wmhmap.regions import Region, RegionTable
from wmhmap.stats.clustering import (
    cluster_regional_loads,
    lesion_frequency,
    regional_profiles,
    silhouette_by_k,
)

REGIONS = RegionTable(
    tuple(
        Region(i, "left" if i <= 3 else "right", name, ())
        for i, name in enumerate(["frontal", "parietal", "occipital"] * 2, start=1)
    )
)
COLUMNS = [f"region_{i:02d}" for i in range(1, 7)]


def three_patterns(n_per_group: int = 15, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three lesion distributions (left frontal, right parietal, bilateral occipital),
    each subject scaled by its own total load, so only the normalisation can find them."""
    rng = np.random.default_rng(seed)
    patterns = np.array(
        [
            [0.80, 0.10, 0.00, 0.10, 0.00, 0.00],
            [0.00, 0.10, 0.00, 0.05, 0.85, 0.00],
            [0.00, 0.00, 0.45, 0.05, 0.00, 0.50],
        ]
    )
    truth = np.repeat([0, 1, 2], n_per_group)
    shares = np.clip(patterns[truth] + rng.normal(0, 0.02, (truth.size, 6)), 0, None)
    totals = rng.uniform(100.0, 20000.0, truth.size)
    wide = pd.DataFrame(
        shares / shares.sum(axis=1, keepdims=True) * totals[:, None], columns=COLUMNS
    )
    wide.insert(0, "subject", [f"s{i:02d}" for i in range(truth.size)])
    wide["outside_mm3"] = 10.0
    wide["global_mm3"] = totals + 10.0
    return wide, truth


def test_silhouette_picks_three_well_separated_groups() -> None:
    wide, truth = three_patterns()
    result = cluster_regional_loads(wide, seed=0)
    assert result.k == 3
    assert result.silhouette["k"].tolist() == list(range(2, 9))
    assert result.silhouette_score == pytest.approx(result.silhouette["silhouette"].max())
    assert adjusted_rand_score(truth, result.assignments["cluster"]) == 1.0
    assert result.excluded == ()


def test_group_table_describes_each_cluster() -> None:
    wide, _ = three_patterns(n_per_group=10)
    wide = wide.iloc[:-3]  # 10, 10, 7 subjects: clusters numbered by size
    meta = pd.DataFrame({"subject": wide["subject"], "diagnosis": ["AD", "CN", None] * 9})
    result = cluster_regional_loads(wide, k=3, ks=[3], regions=REGIONS, meta=meta, seed=0)
    groups = result.groups.set_index("cluster")
    assert groups["n_subjects"].tolist() == [10, 10, 7]
    assert (
        groups[["n_CN", "n_MCI", "n_AD", "n_unknown"]].sum(axis=1) == groups["n_subjects"]
    ).all()
    assert groups["n_MCI"].sum() == 0
    # the occipital group (7 subjects) is right-predominant by a small margin
    occipital = groups.loc[3]
    assert occipital["dominant_regions"].startswith("6 R occipital")
    assert occipital["dominant_regions"].split("; ")[1].startswith("3 L occipital")
    assert (occipital["left_predominant"], occipital["right_predominant"]) == (0, 7)
    left_frontal = groups[groups["dominant_regions"].str.startswith("1 L frontal")].iloc[0]
    assert (left_frontal["left_predominant"], left_frontal["right_predominant"]) == (10, 0)
    members = result.assignments.merge(wide, on="subject")
    for cluster, row in groups.iterrows():
        loads = members.loc[members["cluster"] == cluster, "global_mm3"]
        assert row["mean_global_mm3"] == pytest.approx(loads.mean())
        assert (row["min_global_mm3"], row["max_global_mm3"]) == (loads.min(), loads.max())


def test_a_sample_sheet_without_diagnoses_counts_every_subject_unknown() -> None:
    """Diagnoses are optional in a sample sheet (a segmentation study has none)."""
    wide, _ = three_patterns(n_per_group=6)
    meta = pd.DataFrame({"subject": wide["subject"], "site": "A"})
    groups = cluster_regional_loads(wide, k=3, ks=[3], meta=meta, seed=0).groups
    assert (groups["n_unknown"] == groups["n_subjects"]).all()
    assert groups[["n_CN", "n_MCI", "n_AD"]].sum().sum() == 0


def test_group_table_without_region_table_uses_column_names() -> None:
    wide, _ = three_patterns(n_per_group=6)
    groups = cluster_regional_loads(wide, k=3, ks=[2, 3]).groups
    assert groups["dominant_regions"].str.match(r"region_0\d \(\d+%\)").all()
    assert groups["left_predominant"].isna().all()
    assert "n_AD" not in groups.columns


def test_subjects_without_lesions_are_excluded_and_counted() -> None:
    wide, _ = three_patterns(n_per_group=6)
    wide.loc[[0, 7], COLUMNS] = 0.0
    profiles = regional_profiles(wide)
    assert profiles.excluded == ("s00", "s07")
    assert len(profiles.profiles) == 16
    np.testing.assert_allclose(profiles.profiles.sum(axis=1), 1.0)
    result = cluster_regional_loads(wide, k=3, ks=[3])
    assert result.excluded == ("s00", "s07")
    assert "s00" not in result.assignments["subject"].tolist()


def test_lesion_frequency_is_share_of_subjects_with_any_load() -> None:
    wide = pd.DataFrame(
        {
            "subject": ["a", "b", "c", "d"],
            "region_01": [1.0, 0.0, 5.0, 0.0],
            "region_02": [0.0, 0.0, 2.0, 3.0],
        }
    )
    assignments = pd.DataFrame({"subject": ["a", "b", "c", "d"], "cluster": [1, 1, 1, 2]})
    frequency = lesion_frequency(wide, assignments, ["region_01", "region_02"])
    assert frequency["cluster"].tolist() == [1, 2]
    np.testing.assert_allclose(frequency[["region_01", "region_02"]], [[2 / 3, 1 / 3], [0, 1]])


def test_clustering_is_deterministic_for_a_seed() -> None:
    wide, _ = three_patterns(seed=3)
    first = cluster_regional_loads(wide, seed=5, ks=[2, 3, 4])
    second = cluster_regional_loads(wide, seed=5, ks=[2, 3, 4])
    for name in ("assignments", "silhouette", "groups", "frequency"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_too_few_subjects_or_bad_k_are_errors() -> None:
    wide, _ = three_patterns(n_per_group=1)
    with pytest.raises(InputError, match="2 <= k < 3"):
        silhouette_by_k(regional_profiles(wide).profiles, ks=[3, 4])
    with pytest.raises(InputError, match="cannot make 5 clusters"):
        cluster_regional_loads(wide, k=5, ks=[2])
    with pytest.raises(InputError, match="region_99"):
        regional_profiles(wide, ["region_01", "region_99"])
