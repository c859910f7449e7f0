"""Regional lesion loads: volumes, lesion counts, sums, tables and TSV files."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from wmhmap.errors import InputError
from wmhmap.loads import (
    LONG_COLUMNS,
    SUMMARY_COLUMNS,
    as_lesion_mask,
    cohort_long,
    cohort_wide,
    label_voxel_counts,
    lesion_components,
    read_loads_tsv,
    region_column,
    regional_loads,
    regional_loads_from_files,
    regional_loads_from_images,
    summarize_loads,
    write_loads_tsv,
)
from wmhmap.regions import OUTSIDE, Region, RegionTable, load_region_table

TABLE = RegionTable(
    (
        Region(1, "left", "frontal", ()),
        Region(2, "left", "parietal", ()),
        Region(3, "right", "frontal", ()),
        Region(4, "right", "parietal", ()),
    )
)


def loads_of(lesions, regions, table=TABLE, voxel=1.0, **kwargs):
    return regional_loads(
        np.asarray(lesions),
        np.asarray(regions),
        table,
        voxel_volume_mm3=voxel,
        subject="s1",
        **kwargs,
    ).set_index("region_id")


def reference_loads(lesions, regions, table, voxel):
    """The obvious implementation: one masked pass per region, ndimage.label for lesions."""
    mask = lesions.astype(bool)
    components, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    ids = [*table.ids.tolist(), OUTSIDE]
    overlap = np.array(
        [np.bincount(components[mask & (regions == i)], minlength=n + 1) for i in ids]
    )
    order = np.argsort(ids)
    owner = np.asarray(ids)[order][overlap[order, 1:].argmax(axis=0)] if n else np.array([])
    return pd.DataFrame(
        {
            "lesion_mm3": [np.count_nonzero(mask & (regions == i)) * voxel for i in ids],
            "region_mm3": [np.count_nonzero(regions == i) * voxel for i in table.ids] + [np.nan],
            "lesion_count": [int(np.count_nonzero(owner == i)) for i in ids],
        },
        index=pd.Index(ids, name="region_id"),
    )


def random_subject(rng, shape=(40, 44, 30), n_blobs=25, n_regions=34):
    blocks = rng.integers(0, n_regions + 1, size=tuple(s // 6 + 1 for s in shape))
    regions = blocks.repeat(6, 0).repeat(6, 1).repeat(6, 2)[: shape[0], : shape[1], : shape[2]]
    lesions = np.zeros(shape, dtype=np.uint8)
    for centre in rng.integers(2, np.array(shape) - 2, size=(n_blobs, 3)):
        radius = rng.integers(0, 3)
        box = tuple(slice(max(c - radius, 0), c + radius + 1) for c in centre)
        lesions[box] = rng.random(lesions[box].shape) < 0.8
    return lesions, regions.astype(np.uint8)


# --- volumes -----------------------------------------------------------------------


def test_mm3_uses_the_voxel_volume_of_anisotropic_voxels():
    # 0.5 x 0.5 x 3 mm voxels: 0.75 mm^3 each.
    regions = np.zeros((4, 4, 4), np.uint8)
    regions[:2, :2, :2] = 1  # 8 voxels = 6 mm^3
    lesions = np.zeros((4, 4, 4), np.uint8)
    lesions[0, 0, :2] = lesions[1, 1, :2] = 1  # 4 voxels in region 1 = 3 mm^3
    lesions[3, 3, 2:] = 1  # 2 voxels outside = 1.5 mm^3
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    long = regional_loads_from_images(
        nib.Nifti1Image(lesions, affine), nib.Nifti1Image(regions, affine), TABLE, subject="s1"
    ).set_index("region_id")
    assert long.loc[1, "lesion_mm3"] == 3.0
    assert long.loc[1, "region_mm3"] == 6.0
    assert long.loc[1, "lesion_fraction"] == 0.5
    assert long.loc[OUTSIDE, "lesion_mm3"] == 1.5
    assert long.loc[2, "lesion_mm3"] == 0.0
    assert math.isnan(long.loc[2, "lesion_fraction"])  # region 2 is absent from the map
    assert summarize_loads(long.reset_index()).loc[0, "global_mm3"] == 4.5


def test_loads_and_outside_sum_exactly_to_the_global_load():
    rng = np.random.default_rng(7)
    lesions, regions = random_subject(rng)
    table = load_region_table()
    for voxel in (0.75, 1.2**3):
        long = regional_loads(lesions, regions, table, voxel_volume_mm3=voxel, subject="s")
        summary = summarize_loads(long)
        regional = long.loc[long.region_id != OUTSIDE, "lesion_mm3"].tolist()
        outside = long.loc[long.region_id == OUTSIDE, "lesion_mm3"].tolist()
        assert math.fsum(regional + outside) == summary.loc[0, "global_mm3"]
        assert summary.loc[0, "outside_mm3"] == outside[0]
        assert long.lesion_mm3.sum() == pytest.approx(lesions.sum() * voxel, rel=1e-12)
    # With a dyadic voxel volume every summation order is exact.
    long = regional_loads(lesions, regions, table, voxel_volume_mm3=0.75, subject="s")
    assert sum(long.lesion_mm3) == int(lesions.sum()) * 0.75 == summarize_loads(long).global_mm3[0]


def test_other_white_matter_labels_count_as_outside_and_sums_still_hold():
    """35/36 (white matter of atlas structures outside the regions) join the outside
    bucket, as in the independent reference with those labels read as 0."""
    rng = np.random.default_rng(11)
    lesions, regions = random_subject(rng)
    regions = regions.copy()
    regions[regions == 33] = 35
    regions[regions == 34] = 36
    table = load_region_table()
    long = regional_loads(lesions, regions, table, voxel_volume_mm3=1.0, subject="s")
    summary = summarize_loads(long)
    assert summary.loc[0, "global_mm3"] == lesions.sum()
    expected = reference_loads(lesions, np.where(regions > 34, 0, regions), table, 1.0)
    got = long.set_index("region_id")
    np.testing.assert_array_equal(got.lesion_mm3, expected.lesion_mm3)
    np.testing.assert_array_equal(got.lesion_count, expected.lesion_count)


def test_lesion_voxels_outside_a_white_matter_map_take_their_parcels_region():
    from wmhmap.loads import lesions_count_as_white_matter

    rng = np.random.default_rng(5)
    lesions, parcels = random_subject(rng)
    white = rng.random(parcels.shape) < 0.6  # a tissue segmentation that misses lesions
    wm_map = np.where(white, parcels, 0).astype(np.uint8)
    table = load_region_table()
    counted = lesions_count_as_white_matter(wm_map, parcels, lesions, table)
    # every lesion voxel in a parcel region is counted in it, as with whole parcels ...
    with_wm = regional_loads(lesions, counted, table, voxel_volume_mm3=1.0, subject="s")
    with_parcels = regional_loads(lesions, parcels, table, voxel_volume_mm3=1.0, subject="s")
    np.testing.assert_array_equal(with_wm.lesion_mm3, with_parcels.lesion_mm3)
    # ... and region volumes grow by exactly those voxels, so fractions stay <= 1
    added = np.bincount(parcels[(lesions > 0) & ~white], minlength=35)[1:35]
    np.testing.assert_array_equal(
        with_wm.region_mm3[:-1],
        np.bincount(wm_map.ravel(), minlength=35)[1:35] + added,
    )
    assert (with_wm.lesion_fraction.dropna() <= 1).all()


def test_empty_lesion_mask_gives_zero_loads():
    regions = np.ones((3, 3, 3), np.uint8)
    long = loads_of(np.zeros((3, 3, 3), bool), regions)
    assert (long.lesion_mm3 == 0).all() and (long.lesion_count == 0).all()
    summary = summarize_loads(long.reset_index())
    assert summary.loc[0, "global_mm3"] == 0.0
    assert summary.loc[0, "lesion_count"] == 0
    assert math.isnan(summary.loc[0, "asymmetry_index"])


def test_hemisphere_sums_asymmetry_and_icv_fractions():
    regions = np.repeat(np.array([[[1, 2, 3, 4, 0, 0]]], np.uint8), 3, axis=0)
    lesions = np.zeros((3, 1, 6), np.uint8)
    lesions[:, 0, 0] = 1  # 3 voxels in left region 1
    lesions[0, 0, 3] = 1  # 1 voxel in right region 4
    lesions[2, 0, 5] = 1  # 1 voxel outside
    long = regional_loads(
        lesions, regions, TABLE, voxel_volume_mm3=2.0, subject="s", icv_mm3=1000.0
    )
    summary = summarize_loads(long, icv_mm3=1000.0).iloc[0]
    assert (summary.left_mm3, summary.right_mm3, summary.outside_mm3) == (6.0, 2.0, 2.0)
    assert summary.asymmetry_index == (6 - 2) / (6 + 2)
    assert summary.global_mm3 == 10.0
    assert summary.global_per_icv == pytest.approx(0.01)
    assert summary.lesion_count == 3
    assert long.set_index("region_id").loc[1, "lesion_per_icv"] == pytest.approx(0.006)


# --- lesion counts -----------------------------------------------------------------


def test_lesion_touching_two_regions_counts_in_the_region_holding_most_of_it():
    regions = np.zeros((1, 1, 8), np.uint8)
    regions[0, 0, :2] = 1
    regions[0, 0, 2:5] = 2
    lesions = np.zeros((1, 1, 8), np.uint8)
    lesions[0, 0, :5] = 1  # one lesion: 2 voxels in region 1, 3 in region 2
    long = loads_of(lesions, regions)
    assert long.loc[1, "lesion_mm3"] == 2.0 and long.loc[2, "lesion_mm3"] == 3.0
    assert long.loc[1, "lesion_count"] == 0 and long.loc[2, "lesion_count"] == 1
    assert long.lesion_count.sum() == 1


def test_tied_lesion_goes_to_the_lowest_id_and_mostly_outside_to_outside():
    regions = np.array([[[3, 3, 1, 1, 0, 0, 0, 2, 0, 4, 4, 0, 0]]], np.uint8)
    lesions = np.array([[[1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1]]], np.uint8)
    long = loads_of(lesions, regions)
    # lesion A: 2 in region 3, 2 in region 1 -> region 1; lesion B: 2 outside, 1 in 2 -> outside;
    # lesion C: 2 in region 4, 2 outside -> outside (id 0 is the lowest).
    assert long.lesion_count.to_dict() == {1: 1, 2: 0, 3: 0, 4: 0, OUTSIDE: 2}


def test_lesions_connect_through_corners_26_neighbourhood():
    regions = np.ones((2, 2, 2), np.uint8)
    lesions = np.zeros((2, 2, 2), np.uint8)
    lesions[0, 0, 0] = lesions[1, 1, 1] = 1  # touch at a corner only
    assert loads_of(lesions, regions).loc[1, "lesion_count"] == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_pass_matches_a_per_region_loop(seed):
    rng = np.random.default_rng(seed)
    lesions, regions = random_subject(rng)
    table = load_region_table()
    expected = reference_loads(lesions, regions, table, 0.75)
    # The same data as nibabel hands it over (Fortran order, float labels) must not matter.
    variants = [
        (lesions, regions),
        (np.asfortranarray(lesions), np.asfortranarray(regions)),
        (lesions.astype(np.float32), regions.astype(np.float32)),
        (lesions.astype(bool), regions.astype(np.int32)),
    ]
    for lesion_variant, region_variant in variants:
        long = regional_loads(
            lesion_variant, region_variant, table, voxel_volume_mm3=0.75, subject="s"
        ).set_index("region_id")
        pd.testing.assert_frame_equal(long[expected.columns], expected, check_exact=True)


@pytest.mark.parametrize("seed", range(4))
def test_lesion_components_partition_equals_ndimage_label(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        shape = tuple(int(s) for s in rng.integers(1, 10, size=3))
        mask = rng.random(shape) < rng.uniform(0.05, 0.6)
        for variant in (mask, np.asfortranarray(mask), mask[::-1, :, ::2]):
            labels, n = ndimage.label(variant, structure=np.ones((3, 3, 3)))
            found = lesion_components(variant)
            assert found.n_lesions == n
            assert variant[found.voxels].all() and len(found.component) == variant.sum()
            # same partition: each (ndimage label, our label) pair is one lesion
            assert len(set(zip(labels[found.voxels], found.component, strict=True))) == n


def test_label_voxel_counts_across_chunks():
    labels = np.random.default_rng(3).integers(0, 40, size=(70, 60, 80)).astype(np.uint8)
    np.testing.assert_array_equal(
        label_voxel_counts(labels, minlength=50), np.bincount(labels.ravel(), minlength=50)
    )


# --- errors ------------------------------------------------------------------------


def test_probability_map_is_refused_with_the_threshold_fix():
    with pytest.raises(InputError, match=r"threshold it at 0\.5"):
        as_lesion_mask(np.array([0.0, 0.3, 0.97]), subject="s1")


def test_non_binary_label_mask_is_refused():
    with pytest.raises(InputError, match=r"not binary.*2"):
        loads_of(np.array([[[0, 1, 2]]]), np.zeros((1, 1, 3), np.uint8))


def test_region_labels_missing_from_the_table_are_refused():
    regions = np.array([[[0, 1, 7]]], np.uint8)
    with pytest.raises(InputError, match=r"subject s1.*not in the region table.*7"):
        loads_of(np.zeros((1, 1, 3), np.uint8), regions)


def test_linearly_interpolated_region_map_is_refused():
    with pytest.raises(InputError, match="non-integer"):
        loads_of(np.zeros((1, 1, 2), np.uint8), np.array([[[1.0, 1.5]]]))


def test_different_grids_name_both_files_and_the_fix():
    lesion = nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), np.diag([1.0, 1.0, 1.0, 1.0]))
    regions = nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), np.diag([1.0, 1.0, 1.2, 1.0]))
    with pytest.raises(InputError) as caught:
        regional_loads_from_images(
            lesion, regions, TABLE, subject="s1", lesion_file="les.nii.gz", region_file="reg.nii.gz"
        )
    message = str(caught.value)
    assert "les.nii.gz" in message and "reg.nii.gz" in message and "subject s1" in message
    assert "resample the region map onto the lesion grid" in message
    smaller = nib.Nifti1Image(np.zeros((4, 4, 3), np.uint8), np.eye(4))
    with pytest.raises(InputError, match="shape 4x4x3 vs 4x4x4"):
        regional_loads_from_images(lesion, smaller, TABLE, subject="s1")


def test_shape_mismatch_of_arrays_is_refused():
    with pytest.raises(InputError, match="same 3-D shape"):
        loads_of(np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 3), np.uint8))


# --- tables ------------------------------------------------------------------------


def test_long_table_has_the_contracted_columns_and_rows():
    long = regional_loads(
        np.zeros((2, 2, 2), np.uint8),
        np.ones((2, 2, 2), np.uint8),
        TABLE,
        voxel_volume_mm3=1.0,
        subject="007",
    )
    assert tuple(long.columns) == LONG_COLUMNS
    assert long.region_id.tolist() == [1, 2, 3, 4, 0]
    last = long.iloc[-1]
    assert (last.region_name, last.hemisphere) == ("outside regions", "none")
    assert math.isnan(last.region_mm3)
    assert (long.subject == "007").all()
    assert tuple(summarize_loads(long).columns) == SUMMARY_COLUMNS


def test_region_column_names():
    assert region_column(1) == "region_01"
    assert region_column(34) == "region_34"
    with pytest.raises(ValueError):
        region_column(0)


def test_cohort_tables():
    regions = np.array([[[1, 2, 3, 4, 0]]], np.uint8)
    first = regional_loads(
        np.array([[[1, 0, 1, 0, 1]]]), regions, TABLE, voxel_volume_mm3=1.0, subject="a"
    )
    second = regional_loads(
        np.array([[[0, 1, 0, 0, 0]]]), regions, TABLE, voxel_volume_mm3=1.0, subject="b"
    )
    long = cohort_long([first, second])
    assert len(long) == 10 and long.subject.tolist()[::5] == ["a", "b"]
    wide = cohort_wide([first, second])
    assert wide.columns.tolist() == [
        "subject", "global_mm3", "outside_mm3", "region_01", "region_02", "region_03", "region_04",
    ]  # fmt: skip
    assert wide.to_numpy().tolist() == [
        ["a", 3.0, 1.0, 1.0, 0.0, 1.0, 0.0],
        ["b", 1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    ]
    pd.testing.assert_frame_equal(cohort_wide(long), wide)
    with pytest.raises(InputError, match="subject a appears in more than one"):
        cohort_long([first, first])
    with pytest.raises(InputError, match="same region table"):
        cohort_wide([first, second[second.region_id != 4]])


def test_cohort_wide_with_the_34_regions():
    table = load_region_table()
    lesions, regions = random_subject(np.random.default_rng(5))
    long = regional_loads(lesions, regions, table, voxel_volume_mm3=1.0, subject="x")
    wide = cohort_wide([long])
    assert wide.columns[3:].tolist() == [f"region_{i:02d}" for i in range(1, 35)]
    assert wide.loc[0, "region_17"] == long.set_index("region_id").loc[17, "lesion_mm3"]


def test_tsv_round_trip_is_exact_and_byte_for_byte_deterministic(tmp_path):
    lesions, regions = random_subject(np.random.default_rng(11))
    table = load_region_table()
    long = regional_loads(
        lesions, regions, table, voxel_volume_mm3=1.2**3, subject="007", icv_mm3=1.4e6
    )
    summary = summarize_loads(long)
    wide = cohort_wide([long])
    for name, frame in (("long", long), ("summary", summary), ("wide", wide)):
        path = tmp_path / f"{name}.tsv"
        write_loads_tsv(frame, path)
        back = read_loads_tsv(path)
        pd.testing.assert_frame_equal(back, frame, check_exact=True)
        again = tmp_path / f"{name}_again.tsv"
        write_loads_tsv(back, again)
        assert again.read_bytes() == path.read_bytes()
    assert "\tn/a\t" in (tmp_path / "long.tsv").read_text()
    with pytest.raises(InputError, match="lacks column"):
        read_loads_tsv(tmp_path / "wide.tsv", columns=LONG_COLUMNS)
    with pytest.raises(InputError, match="loads table not found"):
        read_loads_tsv(tmp_path / "none.tsv")
    broken = tmp_path / "broken.tsv"  # a binary file, e.g. a NIfTI passed by mistake
    broken.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe\xfa" * 50)
    with pytest.raises(InputError, match="loads table is not a readable TSV"):
        read_loads_tsv(broken)


def test_loads_from_files(tmp_path):
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    regions = np.zeros((3, 3, 3), np.uint8)
    regions[1] = 3
    lesions = np.zeros((3, 3, 3), np.uint8)
    lesions[1, 1, 1] = 1
    nib.save(nib.Nifti1Image(lesions, affine), tmp_path / "les.nii.gz")
    nib.save(nib.Nifti1Image(regions, affine), tmp_path / "reg.nii.gz")
    long = regional_loads_from_files(
        tmp_path / "les.nii.gz", tmp_path / "reg.nii.gz", TABLE, subject="s"
    )
    assert long.set_index("region_id").loc[3, "lesion_mm3"] == 0.75
    with pytest.raises(InputError, match="not found"):
        regional_loads_from_files(
            tmp_path / "missing.nii.gz", tmp_path / "reg.nii.gz", TABLE, subject="s"
        )


def test_load_uncertainty_measures_each_fold_and_flags_disagreement():
    """Three folds that agree on region 1 and disagree on region 2: the per-fold loads,
    their spread and the probability-weighted load follow by hand; lesion voxels
    outside the white matter join their parcel's region in every fold."""
    from wmhmap.loads import UNCERTAINTY_COLUMNS, lesions_count_as_white_matter, load_uncertainty

    table = RegionTable((Region(1, "left", "a", ()), Region(2, "right", "b", ())))
    regions = np.zeros((4, 4, 1), np.uint8)
    regions[:2] = 1
    regions[2:] = 2
    regions[3, 3, 0] = 0  # a lesion voxel outside the white matter, in parcel 2
    parcels = regions.copy()
    parcels[3, 3, 0] = 2
    folds = np.zeros((4, 4, 1, 3), np.float32)
    folds[0, :2, 0, :] = 0.9  # region 1: two voxels, every fold
    folds[2, 0, 0] = [0.9, 0.1, 0.1]  # region 2: one fold only
    folds[3, 3, 0] = [0.8, 0.8, 0.2]  # joins region 2 through its parcel

    def region_map_for(mask):
        return lesions_count_as_white_matter(regions, parcels, mask, table)

    fused = folds.mean(-1) >= 0.5
    loads = regional_loads(fused, region_map_for(fused), table, voxel_volume_mm3=2.0, subject="s")
    out = load_uncertainty(
        folds, region_map_for, loads, table, voxel_volume_mm3=2.0, max_spread=0.5
    )
    assert list(out.columns[-len(UNCERTAINTY_COLUMNS) :]) == list(UNCERTAINTY_COLUMNS)
    one, two, outside = (out.iloc[i] for i in range(3))
    assert (one.fold_min_mm3, one.fold_max_mm3, one.fold_sd_mm3) == (4.0, 4.0, 0.0)
    assert not one.uncertain
    # region 2 by fold: 2 voxels, 1 voxel, 0 voxels (x 2 mm3); the fused mask: 1 voxel
    assert (two.fold_min_mm3, two.fold_mean_mm3, two.fold_max_mm3) == (0.0, 2.0, 4.0)
    assert np.isclose(two.fold_sd_mm3, 2.0)
    assert two.lesion_mm3 == 2.0 and two.uncertain  # range 4 > 0.5 x 2
    assert np.isclose(two.expected_mm3, 2.0 * (1.1 / 3 + 1.8 / 3))
    assert np.isclose(one.expected_mm3, 2.0 * 1.8)
    # nothing to calibrate with: no held-out fold, no expert mask
    assert out.held_out_mm3.isna().all() and out.reference_mm3.isna().all()
    # a training subject held out by fold 2 (region 1: 2 voxels, region 2: none; the
    # voxel in parcel 2 is at 0.2), and its expert mask, counted as the loads count
    expert = np.zeros((4, 4, 1), bool)
    expert[0, 0, 0] = expert[2, 0, 0] = expert[2, 1, 0] = expert[3, 3, 0] = True

    def measured(**calibration):
        return load_uncertainty(
            folds, region_map_for, loads, table, voxel_volume_mm3=2.0, max_spread=0.5,
            **calibration,
        )  # fmt: skip

    out = measured(held_out_fold=2, reference=expert)
    assert out.held_out_mm3.tolist() == [4.0, 0.0, 0.0]
    assert out.reference_mm3.tolist() == [2.0, 6.0, 0.0]
    with pytest.raises(InputError, match="held-out fold 3"):
        measured(held_out_fold=3)
    assert outside.fold_max_mm3 == 0.0
    with pytest.raises(InputError, match="expected 4"):
        load_uncertainty(
            folds[..., 0], region_map_for, loads, table, voxel_volume_mm3=2.0, max_spread=0.5
        )
