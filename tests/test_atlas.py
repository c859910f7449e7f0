import nibabel as nib
import numpy as np
import pytest
from conftest import SHARED_DATA, shared_dir

from wmhmap.geometry import reorient_to_ras
from wmhmap.metrics import region_dice
from wmhmap.regions import load_region_table


def test_atlas_propagation_reaches_region_dice_of_080(demo_propagations):
    table = load_region_table()
    dice = []
    for demo in demo_propagations:
        subject, result = demo.subject, demo.propagation
        truth = np.asarray(reorient_to_ras(subject.regions).dataobj)
        scores = region_dice(np.asarray(result.labels.dataobj), truth, table)
        assert scores.dice.notna().all()
        dice.append(scores.dice.mean())
        assert result.quality["correlation"] > 0.7
        assert result.quality["brain_dice"] > 0.95
    assert np.mean(dice) >= 0.80, dice


def test_demo_atlas_has_34_regions_in_white_matter(template, demo_labels):
    present = set(np.unique(demo_labels).tolist())
    assert present == set(range(0, 35))
    assert np.all(template.wm[demo_labels > 0] >= 0.5)
    # left regions on the left (x < 0), right on the right
    xyz = template.world_coordinates()
    assert np.mean(xyz[0][(demo_labels >= 1) & (demo_labels <= 17)] < 0) > 0.97
    assert np.mean(xyz[0][demo_labels >= 18] > 0) > 0.97


@pytest.mark.realdata
def test_build_atlas_on_real_jhu_gives_exactly_the_merge_table(tmp_path):
    from wmhmap.cli import main

    jhu = shared_dir("WMHMAP_JHU_ATLAS_DIR", SHARED_DATA / "jhu_eve_atlas")
    out = tmp_path / "regions.nii.gz"
    assert (
        main(
            [
                "build-atlas",
                "--labels",
                str(jhu / "JHU_MNI_SS_WMPM_Type-II.nii.gz"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    table = load_region_table()
    merged = np.asarray(nib.load(out).dataobj)
    original = np.asarray(nib.load(jhu / "JHU_MNI_SS_WMPM_Type-II.nii.gz").dataobj).astype(int)
    assert sorted(np.unique(merged).tolist()) == list(range(0, 37))
    for region in table:
        np.testing.assert_array_equal(
            merged == region.region_id, np.isin(original, region.jhu_labels)
        )
    # every other JHU structure is "other white matter", left (1-65) or right (66-130)
    other = (original > 0) & ~np.isin(original, [label for r in table for label in r.jhu_labels])
    np.testing.assert_array_equal(merged == 35, other & (original <= 65))
    np.testing.assert_array_equal(merged == 36, other & (original > 65))
    assert not merged[original == 0].any()


@pytest.mark.realdata
def test_the_jhu_ventricle_prior_is_the_lateral_ventricles():
    """Eve at 1 mm, midline at x = 90: both lateral ventricles with their temporal horns,
    not the aqueduct and fourth ventricle below them (2 mL that the prior once held)."""
    from wmhmap.zoneprior import VENTRICLES, jhu_zone_prior

    jhu = shared_dir("WMHMAP_JHU_ATLAS_DIR", SHARED_DATA / "jhu_eve_atlas")
    labels = nib.load(jhu / "JHU_MNI_SS_WMPM_Type-II.nii.gz")
    prior = jhu_zone_prior(
        labels.dataobj,
        nib.load(jhu / "JHU_MNI_SS_T1_Tissue_Classes.nii.gz").dataobj,
        np.asarray(nib.load(jhu / "JHU_MNI_SS_T1_mask.nii.gz").dataobj) > 0,
        labels.header.get_zooms()[:3],
    )
    x, _, z = np.nonzero(prior == VENTRICLES)
    assert 13_000 < x.size < 16_000  # mm3 (14,315)
    assert (x < 90).sum() > 6_000 and (x > 90).sum() > 6_000
    assert not ((np.abs(x - 90) < 5) & (z < 50)).any()  # aqueduct, fourth ventricle
    assert ((np.abs(x - 90) >= 12) & (z < 55)).sum() > 500  # temporal horns (640)
