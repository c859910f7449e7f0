"""The workflow's plan (wmhmap.plan) without Snakemake: paths, grids, stages, targets.

Each test builds the plan the Snakefile builds, from the shipped configs and a
checked sample table, in milliseconds.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from test_config import load, merged, with_defaults

from wmhmap.errors import PlanError
from wmhmap.plan import GRID, Plan, demo_samples
from wmhmap.samplesheet import validate_samplesheet


def config(**overlay):
    """config.yaml + tests.yaml + ``overlay``, validated with the schema's defaults."""
    base = merged(load("config.yaml"), load("tests.yaml"))
    return with_defaults(merged(base, copy.deepcopy(overlay)))


def sheet(rows, **overlay) -> Plan:
    """A plan of a sample sheet (the files need not exist)."""
    samples = validate_samplesheet(pd.DataFrame(rows).fillna(""), check_files=False)
    return Plan(config(samplesheet="sheet.tsv", **overlay), samples, demo=False)


def visit(subject, *, flair=True, t1=True, mask=False, regions=False, **extra):
    return {
        "subject": subject,
        "flair": f"/d/{subject}_FLAIR.nii.gz" if flair else "",
        "t1": f"/d/{subject}_T1w.nii.gz" if t1 else "",
        "lesion_mask": f"/d/{subject}_mask.nii.gz" if mask else "",
        "region_map": f"/d/{subject}_dseg.nii.gz" if regions else "",
        **extra,
    }


COHORT = [visit(f"s{i}", mask=i < 4, split="train" if i < 3 else "test") for i in range(6)]


def test_demo_plan_paths_follow_bids_derivative_names():
    plan = Plan.for_demo(config(results="out"))
    first = plan.subjects[0]
    assert len(plan.subjects) == 6 and plan.demo
    assert plan.bids(first, space=GRID, desc="wmh", suffix="mask") == (
        f"out/sub-{first}/anat/sub-{first}_space-FLAIR_desc-wmh_mask.nii.gz"
    )
    # wildcards stay wildcards, the grid becomes {space}
    assert plan.bids("{subject}", space=GRID, desc="preproc", suffix="{modality}") == (
        "out/sub-{subject}/anat/sub-{subject}_space-{space}_desc-preproc_{modality}.nii.gz"
    )
    assert plan.atlas_xfm(first).endswith(f"sub-{first}_from-atlas_to-FLAIR_mode-image_xfm.mat")
    assert plan.log_path("segment_subject", subject="{subject}", space="{space}") == (
        "out/logs/segment_subject/subject-{subject}_space-{space}.log"
    )
    assert plan.benchmark_path("classify_diagnoses") == (
        "out/benchmarks/classify_diagnoses/classify_diagnoses.tsv"
    )
    assert plan.samplesheet_file() == "out/demo/samplesheet.tsv"
    assert (
        plan.raw_image(first, "T1w") == f"out/demo/rawdata/sub-{first}/anat/sub-{first}_T1w.nii.gz"
    )


def test_sessions_bring_their_folder_and_wildcard_along():
    rows = [visit("a", session="1"), visit("a", session="2"), visit("b", session="1")]
    plan = sheet(rows)
    assert plan.subjects == ["a_ses-1", "a_ses-2", "b_ses-1"]
    assert plan.stats_visits == ["a_ses-1", "b_ses-1"]
    assert plan.bids("a_ses-2", desc="n4", suffix="T1w") == (
        "results-tests/sub-a/ses-2/anat/sub-a_ses-2_desc-n4_T1w.nii.gz"
    )
    assert "{session}" in plan.bids("{subject}", desc="n4", suffix="T1w")
    assert plan.log_path("x", subject="{subject}") == (
        "results-tests/logs/x/subject-{subject}_session-{session}.log"
    )
    # the demo's simulation rules name subjects, not visits
    assert plan.log_path("x", visits=False, subject="{subject}").endswith("subject-{subject}.log")
    with pytest.raises(PlanError, match="no subject has a session '3'"):
        sheet(rows, stats={"session": "3"})


def test_each_later_visit_is_compared_with_its_first_in_a_shared_modality():
    rows = [
        visit("a", session="1"),
        visit("a", session="2", t1=False),  # FLAIR only: compared by its FLAIR
        visit("a", session="3"),  # both: by the T1w
        visit("b", session="1", flair=False),
        visit("b", session="2", t1=False),  # no modality of b's first visit
        visit("c", session="1"),
    ]
    plan = sheet(rows)
    assert plan.first_visits == {"a_ses-2": "a_ses-1", "a_ses-3": "a_ses-1", "b_ses-2": "b_ses-1"}
    pairs = {s: plan.visit_pair(s) for s in plan.subjects}
    assert pairs == {
        "a_ses-1": None,
        "a_ses-2": ("a_ses-1", "FLAIR"),
        "a_ses-3": ("a_ses-1", "T1w"),
        "b_ses-1": None,
        "b_ses-2": None,
        "c_ses-1": None,
    }
    assert plan.visit_check_inputs("a_ses-2") == {
        "first": plan.n4_image("a_ses-1", "FLAIR"),
        "first_brain": plan.native_brain_mask("a_ses-1", "FLAIR"),
        "later": plan.n4_image("a_ses-2", "FLAIR"),
        "later_brain": plan.native_brain_mask("a_ses-2", "FLAIR"),
    }
    check = "results-tests/sub-a/ses-3/qc/sub-a_ses-3_desc-firstvisit_registration.tsv"
    assert plan.visit_check("a_ses-3") == check
    assert check in plan.final_targets()
    # the cohort table takes the comparisons of visits whose first visit passed its checks
    valid = ["a_ses-2", "a_ses-3", "b_ses-2", "c_ses-1"]  # a_ses-1 failed
    assert plan.visit_checks(valid) == []
    assert plan.visit_checks(plan.subjects) == [
        plan.visit_check("a_ses-2"),
        check,
    ]
    with pytest.raises(PlanError, match="sub-a_ses-1 is no later visit"):
        plan.visit_check_inputs("a_ses-1")
    assert sheet([visit("x"), visit("y")]).first_visits == {}  # no sessions


def test_each_visit_has_its_grid_and_registration_image():
    plan = sheet([visit("both"), visit("t1only", flair=False), visit("flaironly", t1=False)])
    assert [plan.reference_modality(s) for s in plan.subjects] == ["FLAIR", "T1w", "FLAIR"]
    assert [plan.registration_modality(s) for s in plan.subjects] == ["T1w", "T1w", "FLAIR"]
    assert list(plan.preprocessed("both")) == ["FLAIR", "T1w"]
    assert "t1w_to_flair" in plan.propagation_inputs("both")
    assert "t1w_to_flair" not in plan.propagation_inputs("t1only")
    assert set(plan.normalization_inputs("both", "T1w")) == {"image", "reference", "brain", "xfm"}
    assert plan.flair_subjects == ["both", "flaironly"]
    with pytest.raises(PlanError, match="sub-t1only's analysis grid is T1w, not FLAIR"):
        plan.check_space("t1only", "FLAIR")
    with pytest.raises(PlanError, match="subject t1only has no FLAIR image"):
        plan.raw_image("t1only", "FLAIR")
    # a T1w classic method is not run on a FLAIR-only visit
    t1_methods = [n for n, m in plan.classic.items() if m.modality == "T1w"]
    assert not set(t1_methods) & set(plan.classic_methods("flaironly"))


HYST, PCT, T1Z = "flairhyst", "flairpct", "t1z"


@pytest.mark.parametrize(
    ("silver", "both", "t1only", "flaironly"),
    [
        ([HYST], [HYST], [T1Z], [HYST]),  # the default; no FLAIR: what the scans allow
        ([], [HYST, PCT, T1Z], [T1Z], [HYST, PCT]),  # [] is every method of use
        ([PCT, T1Z], [PCT, T1Z], [T1Z], [PCT]),
        (["flairz"], [HYST, PCT, T1Z], [T1Z], [HYST, PCT]),  # defined, not in use
    ],
)
def test_the_silver_mask_combines_the_methods_of_classic_silver(silver, both, t1only, flaironly):
    plan = sheet(
        [visit("both"), visit("t1only", flair=False), visit("flaironly", t1=False)],
        classic={"silver": silver},
    )
    assert plan.silver_methods("both") == both
    assert plan.silver_methods("t1only") == t1only
    assert plan.silver_methods("flaironly") == flaironly
    # the evaluation scores every method of classic.use beside the silver mask
    assert set(plan.classic_evaluation("both")) == {f"classic-{m}" for m in (HYST, PCT, T1Z)} | {
        "silver"
    }


def test_gold_training_learns_from_expert_masks_of_training_subjects():
    plan = sheet(COHORT, nnunet={"folds": 2})
    assert plan.lesion_source.training_mode == "gold"
    dataset = plan.final_dataset("lesion")
    table = plan.training_table(dataset)
    assert [e.subject for e in table] == ["s0", "s1", "s2"]
    assert table[0].label == plan.reference_mask("s0")
    assert plan.reference_subjects() == ["s3"]  # held out with a mask: scored
    assert plan.source_plans(dataset) == [] and plan.pretrained_fold(dataset, "0") == []
    assert plan.dataset_stage(dataset) == ("lesion", "gold")
    with pytest.raises(PlanError, match="not one of this configuration's nnU-Net datasets"):
        plan.dataset_stage("Dataset999_Other")


def test_too_few_training_subjects_name_the_ways_out():
    plan = sheet(COHORT, nnunet={"folds": 2}, models={"lesion": {"training_mode": "gold"}})
    too_many = sheet(COHORT, nnunet={"folds": 5}, models={"lesion": {"training_mode": "gold"}})
    assert len(plan.training_table(plan.final_dataset("lesion"))) == 3
    with pytest.raises(PlanError) as err:
        too_many.training_table(too_many.final_dataset("lesion"))
    for fix in ("split=train with a lesion_mask", "found 3", "annotation_free", "pretrained"):
        assert fix in str(err.value)


def test_staged_training_chains_stages_and_their_plans():
    plan = sheet(COHORT, nnunet={"folds": 2}, models={"lesion": {"training_mode": "staged"}})
    assert plan.stages("lesion") == ("bronze", "silver", "gold")
    bronze, silver, gold = (plan.nnunet_dataset("lesion", s) for s in plan.stages("lesion"))
    assert plan.final_dataset("lesion") == gold
    assert plan.source_plans(silver) == [
        f"results-tests/nnunet/preprocessed/{bronze}/{plan.config['nnunet']['plans']}.json"
    ]
    (start,) = plan.pretrained_fold(gold, "1")
    assert start == f"{plan.stage_model_folder('lesion', 'silver')}/fold_1/checkpoint_final.pth"
    assert f"/{silver}/" in start
    # bronze: one case per visit and classic method; silver: one per visit
    assert len(plan.training_table(bronze)) == sum(
        len(plan.bronze_training_methods(s)) for s in plan.subjects
    )
    assert [e.label for e in plan.training_table(silver)] == [
        plan.silver_mask(s) for s in plan.subjects
    ]


def test_region_model_learns_given_maps_and_runs_only_when_used():
    rows = [visit(f"r{i}", regions=i % 2 == 0, split="train") for i in range(4)]
    unused = sheet(
        rows, nnunet={"folds": 2}, models={"lesion": {"training_mode": "annotation_free"}}
    )
    assert unused.used_models == ("lesion",)
    assert "labels" not in unused.segmentation_files()
    assert not any("regions_dseg" in t for t in unused.final_targets())

    used = sheet(
        rows,
        nnunet={"folds": 2},
        loads={"regions": "model"},
        models={"lesion": {"training_mode": "annotation_free"}},
    )
    assert used.used_models == ("lesion", "region")
    labels = [e.label for e in used.training_table(used.final_dataset("region"))]
    assert labels == [
        used.reference_regions("r0"),
        used.atlas_labels("r1"),
        used.reference_regions("r2"),
        used.atlas_labels("r3"),
    ]
    assert used.loads_region_map("r1").endswith("desc-regions_dseg.nii.gz")
    assert unused.loads_region_map("r1").endswith("desc-atlas_dseg.nii.gz")


def test_segmentation_depends_on_how_models_run_not_how_they_trained():
    """segment_subject's params: device, mirroring, tiling, fusion, margin, folder."""
    base = Plan.for_demo(config())
    longer = Plan.for_demo(config(nnunet={"epochs": 7, "validate": True, "compile": True}))
    mirrored = Plan.for_demo(config(nnunet={"tta": True}))
    assert base.segmentation_settings() == longer.segmentation_settings()
    assert base.segmentation_settings() != mirrored.segmentation_settings()
    settings = base.segmentation_settings()["lesion"]
    assert set(settings["nnunet"]) == {"device", "tta", "tile_step_size"}
    assert set(settings["config"]) == {"fusion", "brain_margin_mm"}


def test_demo_simulation_does_not_depend_on_the_split():
    few, many = Plan.for_demo(config()), Plan.for_demo(config(demo={"n_train": 2}))
    subject = few.subjects[0]
    assert few.column(subject, "split") != many.column(subject, "split") or any(
        few.column(s, "split") != many.column(s, "split") for s in few.subjects
    )
    assert [few.simulation_subject(s) for s in few.subjects] == [
        many.simulation_subject(s) for s in many.subjects
    ]
    assert few.simulation_design() == many.simulation_design()
    assert "n_train" not in few.simulation_design()


def test_final_targets_follow_what_the_cohort_supports():
    rows = [
        visit(f"c{i}", diagnosis="AD" if i < 3 else "CN", split="train", mask=True)
        for i in range(6)
    ]
    plan = sheet(rows, nnunet={"folds": 2})
    targets = plan.final_targets()
    assert "results-tests/group/stats/classification_auc.tsv" in targets
    # every visit trains: nothing held out to score, no reference volumes
    assert plan.evaluation_targets() == [] and plan.all_evaluation_tables() == []
    assert not any("bland_altman" in t for t in targets)
    assert plan.classification_tasks() == ["AD vs CN"]
    demo = Plan.for_demo(config())
    assert any("bland_altman" in t for t in demo.final_targets())
    assert demo.evaluation_targets() == ["results-tests/group/evaluation/wmh_metrics_summary.tsv"]


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"classic": {"use": ["nosuch"]}}, "classic.use names ['nosuch']"),
        ({"classic": {"silver": ["flairhist"]}}, "classic.silver names ['flairhist']"),
        (
            {"models": {"region": {"dataset_id": 501}}, "loads": {"regions": "model"}},
            "share a dataset id",
        ),
        (
            {"models": {"lesion": {"training_mode": "staged"}}, "classic": {"use": []}},
            "classic.use is empty",
        ),
    ],
)
def test_impossible_plans_are_refused_with_the_fix(overlay, message):
    cfg = config(**overlay)
    cfg["models"]["lesion"]["dataset_id"] = 501
    with pytest.raises(PlanError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Plan(cfg, demo_samples(cfg, "results-tests/demo"), demo=True)


def test_zone_schemes_plan_their_maps_tables_and_feature_sets():
    plan = Plan.for_demo(config(results="out"))
    first = plan.subjects[0]
    assert plan.zone_schemes == ["pvdeep", "bullseye"]
    assert plan.zone_loads_inputs(first) == {
        "pvdeep": f"out/sub-{first}/anat/sub-{first}_space-FLAIR_desc-pvdeep_dseg.nii.gz",
        "bullseye": f"out/sub-{first}/anat/sub-{first}_space-FLAIR_desc-bullseye_dseg.nii.gz",
    }
    inputs = plan.zone_inputs(first)
    assert inputs["prior"] == "out/atlas/tpl-demo/tpl-demo_desc-zones_dseg.nii.gz"
    assert inputs["t1w"].endswith("space-FLAIR_desc-preproc_T1w.nii.gz")
    assert "out/group/regional_loads_wide_bullseye.tsv" in plan.final_targets()
    assert set(plan.zone_feature_inputs()) == {"pvdeep", "bullseye"}
    # a FLAIR-only visit's zones come from the atlas prior alone
    flair_only = sheet([visit("a", t1=False)])
    assert "t1w" not in flair_only.zone_inputs("a")
    # no zones: no maps, no zone tables
    none = Plan.for_demo(
        config(results="out", zones={"schemes": []}, stats={"feature_sets": ["global"]})
    )
    assert none.zone_loads_inputs(first) == {} and not any(
        "_wide_" in t for t in none.final_targets()
    )


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        (
            {"zones": {"schemes": ["pvdeep"]}},
            "stats.feature_sets names bullseye, which zones.schemes does not compute",
        ),
        (
            {
                "atlas": {
                    "source": "custom",
                    "t1": "a",
                    "labels": "b",
                    "brain_mask": "c",
                    "white_matter": "d",
                }
            },
            "need the atlas's zone prior: set atlas.zones",
        ),
    ],
)
def test_zone_plans_that_cannot_run_are_refused_with_the_fix(overlay, message):
    plan = Plan.for_demo(config(**overlay))
    with pytest.raises(PlanError, match=message):
        plan.final_targets()
        plan.zone_feature_inputs()


def test_load_intervals_are_calibrated_on_the_training_subjects_with_expert_masks():
    plan = sheet(COHORT, nnunet={"folds": 2})
    dataset = plan.final_dataset("lesion")
    assert plan.calibration_subjects == ["s0", "s1", "s2"]
    assert plan.calibration_tables() == [
        f"results-tests/sub-s{i}/anat/sub-s{i}_desc-regionalloads_stats.tsv" for i in range(3)
    ]
    # a training visit: its expert mask and the folds (which one held it out)
    assert plan.loads_calibration_inputs("s0") == {
        "reference": plan.reference_mask("s0"),
        "dataset": f"results-tests/nnunet/raw/{dataset}",
        "splits": f"results-tests/nnunet/preprocessed/{dataset}/splits_final.json",
    }
    # held out with a mask: its expert load checks the intervals; without: nothing
    assert plan.loads_calibration_inputs("s3") == {"reference": plan.reference_mask("s3")}
    assert plan.loads_calibration_inputs("s5") == {}
    # the per-subject figure draws the intervals
    overlay = plan.overlay_inputs("s5")
    assert overlay["calibration"] == "results-tests/group/load_interval_calibration.tsv"
    assert overlay["loads"] == "results-tests/sub-s5/anat/sub-s5_desc-regionalloads_stats.tsv"
    # annotation-free: the silver stage trained on every visit; those with masks calibrate
    free = sheet(
        COHORT, nnunet={"folds": 2}, models={"lesion": {"training_mode": "annotation_free"}}
    )
    assert free.calibration_subjects == ["s0", "s1", "s2", "s3"]


def test_brain_volumes_fill_the_wmh_mask_of_each_t1w_visit():
    """stats.fill_lesions: a visit with a T1w measures its brain volumes after its
    segmentation (the WMH mask its loads use, on its grid); a FLAIR-only visit has no
    tissue classes to fill, and with the setting off no visit waits for its mask."""
    rows = [visit("both"), visit("t1only", flair=False), visit("flaironly", t1=False)]
    plan = sheet(rows)
    wmh = {s: plan.bids(s, space=GRID, desc="wmh", suffix="mask") for s in plan.subjects}
    assert plan.brain_volume_inputs("both")["lesions"] == wmh["both"]
    assert "space-FLAIR" in wmh["both"]
    assert plan.brain_volume_inputs("t1only")["lesions"] == wmh["t1only"]
    assert "space-T1w" in wmh["t1only"]
    assert "lesions" not in plan.brain_volume_inputs("flaironly")
    # the mask segment_subject writes
    written = plan.segmentation_files()["mask"]
    assert written.format(subject="both", space="FLAIR") == wmh["both"]
    off = sheet(rows, stats={"fill_lesions": False})
    assert not any("lesions" in off.brain_volume_inputs(s) for s in off.subjects)
