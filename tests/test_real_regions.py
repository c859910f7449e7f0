"""Opt-in: preprocessing and atlas propagation on 20 real subjects of three scanners,
against the study authors' own region maps (benchmarks/bench_real_regions.py).

The thresholds are what this workflow measures (2026-12-05: agreement median 0.77, whole
parcels 0.81, loads r 0.92), a little below, so that a regression fails; see docs/measurements.md,
"Real scans", for where they stand against the study. Skipped unless
``WMHMAP_REAL_SCANS_DIR`` and ``WMHMAP_JHU_ATLAS_DIR`` are set (``.ci/run`` sets them
when ``../shared/data`` exists).
"""

from __future__ import annotations

import importlib
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest
from conftest import REPO, SHARED_DATA, shared_dir

pytestmark = pytest.mark.realdata


def bench():
    """The benchmark as a module its worker processes can import too."""
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module("bench_real_regions")


@pytest.fixture(scope="module")
def measured():
    scans = shared_dir("WMHMAP_REAL_SCANS_DIR", SHARED_DATA / "real_scans")
    shared_dir("WMHMAP_JHU_ATLAS_DIR", SHARED_DATA / "jhu_eve_atlas")
    module = bench()
    subjects = sorted((p.name for p in (scans / module.CHALLENGE).iterdir()), key=int)
    with ProcessPoolExecutor(2) as pool:
        # all at once, the longer FLAIR scans first: no core waits for the other's last job
        flair_jobs = [pool.submit(module.run_flair, scan) for scan in module.FLAIR_SCANS]
        misplaced_jobs = [pool.submit(module.run_misplaced, item) for item in module.MISPLACED]
        rows = list(pool.map(module.run_subject, subjects))
        flair = [job.result() for job in flair_jobs]
        misplaced = [job.result() for job in misplaced_jobs]
    return rows, module.summarize(rows), flair, misplaced


def test_every_real_subject_gets_a_plausible_brain_and_a_clean_fit(measured):
    from wmhmap.qc import white_matter_share

    rows, summary, *_ = measured
    assert summary["subjects"] == 20
    for row in rows:
        assert 1100 <= row["icv_ml"] <= 1900, row
        assert row["brain_dice"] > 0.93, row
        reasons = [] if row["flags"] == "-" else row["flags"].split("; ")
        assert all(r.startswith("brain cut by the field of view") for r in reasons), row
        # the T1w's white matter as a share of its brain mask (a QC measure, qc.wm_share
        # 0.2-0.6): measured 29-36 %
        assert 0.25 <= white_matter_share(row) <= 0.40, row
    # the one flag these scans deserve: subject 0's slab (48 slices of 3 mm) ends below
    # the top of its brain, whose mask still covers 1,980 mm² of the last slice (3,540 and
    # 4,720 in the two below it); the medulla crossing the lower edge of other Utrecht
    # and Singapore slabs (up to 650 mm²) is not flagged
    assert summary["cut_by_fov"] == ["0"]
    (first,) = (r for r in rows if r["subject"] == "0")
    assert first["fov_edge"] == "superior edge of the T1w"


def test_a_slab_that_cuts_the_brain_off_is_flagged_on_that_side():
    """Subject 100 (Amsterdam: the whole head in the scan) cut 20 mm below the top of its
    brain, as a slab that misses the vertex: its brain mask meets the upper edge over the
    area the whole scan's mask has in that slice; the whole scan meets no edge."""
    import nibabel as nib
    import numpy as np

    from wmhmap.brainmask import extract_brain
    from wmhmap.geometry import reorient_to_ras, voxel_sizes
    from wmhmap.qc import QcThresholds, brain_at_fov_edge

    scans = shared_dir("WMHMAP_REAL_SCANS_DIR", SHARED_DATA / "real_scans")
    whole = reorient_to_ras(nib.load(scans / bench().CHALLENGE / "100" / "T1.nii.gz"))
    mask = extract_brain(whole, subject="100").mask
    assert brain_at_fov_edge(mask) == (0.0, "")
    brain = np.asarray(mask.dataobj) > 0
    zooms = voxel_sizes(whole)
    last = int(np.nonzero(brain.any(axis=(0, 1)))[0].max() - round(20 / zooms[2]))
    cut = nib.Nifti1Image(np.asarray(whole.dataobj)[:, :, : last + 1], whole.affine)
    area, side = brain_at_fov_edge(extract_brain(cut, subject="100").mask)
    assert side == "superior"
    assert area == pytest.approx(brain[:, :, last].sum() * zooms[0] * zooms[1], rel=0.15)
    assert area > 3 * QcThresholds().max_fov_edge_mm2


def test_tissue_classes_hold_on_a_brain_cut_below_the_ventricles():
    """Subject 102 cut 60 mm above the bottom of its brain (a slab through the lateral
    ventricles): white matter then fills most of the brain, and Atropos started from
    the histogram split it in two and merged CSF with grey matter (white matter 147 mL
    of 921, agreement with the study's map cut the same way 0.38; uncut 0.83). Started
    from the atlas's deep white matter: 332 mL and 0.76 (measured 2026-12-06)."""
    import nibabel as nib
    import numpy as np

    from wmhmap.atlas import PropagationSettings, propagate_atlas
    from wmhmap.brainmask import extract_brain
    from wmhmap.brainvolumes import tissue_columns
    from wmhmap.geometry import reorient_to_ras, voxel_sizes
    from wmhmap.metrics import label_agreement
    from wmhmap.preprocess import N4Settings, prepare_scan
    from wmhmap.qc import QcThresholds, white_matter_share

    module = bench()
    scans = shared_dir("WMHMAP_REAL_SCANS_DIR", SHARED_DATA / "real_scans")
    jhu = shared_dir("WMHMAP_JHU_ATLAS_DIR", SHARED_DATA / "jhu_eve_atlas")
    folder = scans / module.CHALLENGE / "102"
    whole = reorient_to_ras(nib.load(folder / "T1.nii.gz"))
    study = np.asarray(reorient_to_ras(nib.load(folder / "regions_study.nii.gz")).dataobj)
    brain = np.asarray(extract_brain(whole, subject="102").mask.dataobj) > 0
    first = int(np.nonzero(brain.any(axis=(0, 1)))[0].min() + round(60 / voxel_sizes(whole)[2]))
    cut = whole.slicer[:, :, first:]
    config = module.load_config()
    scan = prepare_scan(cut, N4Settings.from_config(config["preprocess"]["n4"]), subject="102")
    result = propagate_atlas(
        module.load_jhu_atlas(jhu),
        scan.image,
        scan.image,
        scan.brain,
        None,
        PropagationSettings.from_config(config),
    )
    ours = np.asarray(result.labels.dataobj).astype(np.int64)
    theirs = study[:, :, first:].astype(np.int64)
    white_ml = (ours > 0).sum() * float(np.prod(voxel_sizes(scan.image))) / 1000
    assert 0.25 <= white_ml / scan.brain_ml <= 0.45, (white_ml, scan.brain_ml)
    assert label_agreement(ours, theirs, theirs > 0) >= 0.70
    # the registration QC's tissue measure: 36 % (started from the histogram: 16 %,
    # flagged by qc.wm_share)
    low, high = QcThresholds().wm_share
    share = white_matter_share(tissue_columns(result.tissue_mm3))
    assert low <= share <= high, share


def test_region_maps_agree_with_the_studys_maps(measured):
    rows, summary, *_ = measured
    # the registration alone (whole parcels inside the study's white matter)
    assert summary["parcels_median"] >= 0.80
    assert min(r["parcels"] for r in rows) >= 0.64
    # our parcels cut to the study's white matter: the registration alone meets the
    # region Dice the issue asks for (measured 0.79); the tissue classes cost the rest
    assert summary["dice_study_wm_median"] >= 0.77
    # the white-matter map (our tissue classes against the study's)
    assert summary["agreement_median"] >= 0.73
    assert summary["dice_median"] >= 0.64


def test_expert_lesion_loads_in_our_regions_follow_the_studys(measured):
    _, summary, *_ = measured
    assert summary["load_r_median"] >= 0.90
    # on the lesion voxels the study's map puts in white matter, our 34 regions take
    # the same total (its tissue classes leave the rest of the lesions out)
    assert summary["total_load_ratio_in_study_wm"] == pytest.approx(1.0, abs=0.05)
    assert 1.0 <= summary["total_load_ratio"] <= 1.25


def test_the_zones_ventricles_stay_out_of_the_cisterns_round_the_brainstem(measured):
    """The lateral ventricles the zones are measured from, grown on the T1w from the
    atlas prior: without the infratentorial barrier 3.4-9.0 mL of them (median 6.0) lay
    within 3 mm of the brainstem and cerebellum (quadrigeminal and ambient cisterns);
    measured with it 0.8-1.7 (median 1.1). Volumes 18-93 mL (two runs within 0.3 mL)."""
    rows, summary, *_ = measured
    assert summary["ventricles_infra_ml_max"] <= 2.5
    for row in rows:
        assert 12 <= row["ventricles_ml"] <= 120, row


def test_flair_only_scans_register_without_undeserved_flags(measured):
    _, _, flair, _ = measured
    assert len(flair) == 3
    for row in flair:
        assert row["flags"] == "-", row
        assert row["contrast_kept"] > 0.5, row  # N4 on 4.4 mm slices keeps the contrast
        # ANTs samples the metric at random: isbi01 0.920-0.931 over nine runs, the
        # other two 0.94-0.95 (the QC flags below 0.90)
        assert row["brain_dice"] > 0.91, row
    assert statistics.median(r["icv_ml"] for r in flair) > 1100


def test_a_scan_in_the_other_modalitys_column_is_flagged(measured):
    """White matter is the brightest tissue of a T1w and darker than grey matter on a
    FLAIR. The 20 challenge T1 (three scanners) measured 1.36-1.66, the three FLAIRs
    0.95-1.04 (benchmarks/bench_scan_contrast.py: 25 T1w 1.18-1.66, 7 FLAIRs 0.84-1.04),
    and the QC flags a T1w below 1.1 and a FLAIR above it. Given in the other column,
    isbi02's FLAIR (the brightest white matter of the FLAIRs) and lesjak07's T1w are
    flagged with the reason."""
    rows, _, flair, misplaced = measured
    assert all(1.3 < r["wm_gm_ratio"] < 1.8 for r in rows), [r["wm_gm_ratio"] for r in rows]
    assert all(0.8 < r["wm_gm_ratio"] < 1.08 for r in flair), [r["wm_gm_ratio"] for r in flair]
    # CSF is dark on both: the brightest 5 % of the brain, over the white matter, measured
    # 1.04-1.25 on the challenge T1 and 1.18-1.22 on these FLAIRs (a T2w: CSF, 2-5 x)
    bright = [r["bright_wm_ratio"] for r in rows + flair]
    assert all(1.0 < v < 1.45 for v in bright), bright
    as_t1w, as_flair = misplaced
    assert as_t1w["column"] == "T1w" and as_t1w["wm_gm_ratio"] < 1.08, as_t1w
    assert "T1w contrast: white matter" in as_t1w["flags"], as_t1w
    assert "a FLAIR or T2w given as the T1w" in as_t1w["flags"], as_t1w
    assert as_flair["column"] == "FLAIR" and as_flair["wm_gm_ratio"] > 1.15, as_flair
    assert "FLAIR contrast: white matter" in as_flair["flags"], as_flair
    assert "a T1w given as the FLAIR" in as_flair["flags"], as_flair


def test_an_oblique_scans_expert_mask_lands_on_its_analysis_grid(tmp_path):
    """WMH challenge subject 50 (Singapore, oblique): after RAS reorientation and N4
    (ANTs) the analysis grid's affine lies 0.005 mm from the scan's own, which a 0.001 mm
    check once refused; the expert mask is put on that grid with every lesion voxel."""
    import nibabel as nib
    import numpy as np

    from wmhmap.geometry import reorient_to_ras
    from wmhmap.preprocess import N4Settings, prepare_scan
    from wmhmap.references import onto_analysis_grid

    scans = shared_dir("WMHMAP_REAL_SCANS_DIR", SHARED_DATA / "real_scans")
    folder = scans / bench().CHALLENGE / "50"
    scan = prepare_scan(nib.load(folder / "T1.nii.gz"), N4Settings(), subject="50")
    nib.save(scan.image, tmp_path / "n4.nii.gz")  # as the workflow writes the grid image
    grid = nib.load(tmp_path / "n4.nii.gz")
    raw_mask = nib.load(folder / "wmh.nii.gz")
    shift = np.abs(reorient_to_ras(raw_mask).affine - grid.affine).max()
    assert 0.001 < shift < 0.01  # the round trip this test is about
    mask = onto_analysis_grid(
        raw_mask, grid, role="lesion mask", subject="50", file=folder / "wmh.nii.gz"
    )
    assert np.array_equal(mask.affine, grid.affine)
    expert = np.asarray(reorient_to_ras(raw_mask).dataobj)
    assert np.array_equal(np.asarray(mask.dataobj), expert)
