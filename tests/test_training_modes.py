"""The DAG of each lesion training mode (dry runs of the tests config).

gold: one lesion dataset from the expert masks. staged: bronze -> silver -> gold, each
stage's fold k starting from the previous stage's fold k, later stages preprocessed
with the first stage's plans. annotation_free: the silver dataset alone segments.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import snakemake

BRONZE, SILVER, GOLD = (
    "Dataset511_WMHLesionBronze",
    "Dataset512_WMHLesionSilver",
    "Dataset501_WMHLesion",
)
REGION = "Dataset502_WMHRegions"
FOLDS = 2  # config/tests.yaml


def dry_run(tmp_path: Path, settings: dict):
    """A dry run of the tests config with ``settings`` over it, in a fresh folder."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"results": str(tmp_path / "results"), **settings}))
    return snakemake("-n", "--configfile", "config/tests.yaml", str(extra))


def planned_jobs(tmp_path: Path, mode: str, **lesion) -> list[dict[str, str]]:
    """Every job of a dry run: its rule and its input and output lines."""
    dry = dry_run(tmp_path, {"models": {"lesion": {"training_mode": mode, **lesion}}})
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    jobs = []
    for block in re.split(r"^\s*(?:local)?rule ", dry.stdout + dry.stderr, flags=re.MULTILINE)[1:]:
        fields = dict(re.findall(r"^\s+(input|output): (.*)$", block, re.MULTILINE))
        jobs.append({"rule": block.split(":", 1)[0], **fields})
    return jobs


def of_rule(jobs, rule):
    return [j for j in jobs if j["rule"] == rule]


def datasets(jobs, rule):
    return sorted(
        {m for j in of_rule(jobs, rule) for m in re.findall(r"Dataset\d{3}_[A-Za-z]+", j["output"])}
    )


def trained_from(jobs, dataset):
    """fold -> the pretrained checkpoint a training job of ``dataset`` starts from."""
    out = {}
    for job in of_rule(jobs, "train_nnunet_fold"):
        if f"/models/{dataset}/" not in job["output"]:
            continue
        fold = re.search(r"fold_(\d+)", job["output"]).group(1)
        starts = [p for p in job["input"].split(", ") if p.endswith("checkpoint_final.pth")]
        out[fold] = starts
    return out


def segmenting_dataset(jobs):
    """The dataset whose folds segment: segment_subject reads the lesion model's record,
    which lists the folds of one dataset."""
    (segment,) = of_rule(jobs, "segment_subject")[:1]
    (record,) = [j for j in of_rule(jobs, "record_trained_model") if "/lesion.json" in j["output"]]
    assert record["output"] in segment["input"].split(", ")
    return sorted(set(re.findall(r"/models/(Dataset\d{3}_\w+?)/", record["input"])))


def test_gold_trains_the_lesion_model_on_expert_masks_only(tmp_path):
    jobs = planned_jobs(tmp_path, "gold")
    assert datasets(jobs, "write_nnunet_dataset") == sorted([GOLD, REGION])
    assert trained_from(jobs, GOLD) == {str(k): [] for k in range(FOLDS)}
    assert segmenting_dataset(jobs) == [GOLD]
    # classic masks are made only to be scored on the held-out subjects with references
    scored = {j["output"].split("/sub-")[1][:7] for j in of_rule(jobs, "evaluate_wmh_segmentation")}
    classic = {j["output"].split("/sub-")[1][:7] for j in of_rule(jobs, "staple_wmh_masks")}
    assert classic == scored and scored


def test_staged_chains_bronze_silver_gold_fold_by_fold(tmp_path):
    jobs = planned_jobs(tmp_path, "staged")
    assert datasets(jobs, "write_nnunet_dataset") == sorted([BRONZE, SILVER, GOLD, REGION])
    assert datasets(jobs, "train_nnunet_fold") == sorted([BRONZE, SILVER, GOLD, REGION])
    assert trained_from(jobs, BRONZE) == {str(k): [] for k in range(FOLDS)}
    for later, earlier in ((SILVER, BRONZE), (GOLD, SILVER)):
        starts = trained_from(jobs, later)
        assert sorted(starts) == [str(k) for k in range(FOLDS)]
        for fold, (checkpoint,) in starts.items():
            assert f"/models/{earlier}/" in checkpoint and f"/fold_{fold}/" in checkpoint
    # later stages are preprocessed with the first stage's plans: the same network
    plans = {
        re.search(r"preprocessed/(Dataset\d{3}_\w+?)/", j["output"]).group(1): j["input"]
        for j in of_rule(jobs, "plan_nnunet")
    }
    assert f"/preprocessed/{BRONZE}/nnUNetPlansCPU.json" in plans[SILVER]
    assert f"/preprocessed/{SILVER}/nnUNetPlansCPU.json" in plans[GOLD]
    assert "/preprocessed/" not in plans[BRONZE]
    assert segmenting_dataset(jobs) == [GOLD]


def bronze_labels(jobs) -> set[str]:
    """The classic methods whose masks the bronze dataset is written from."""
    (job,) = [j for j in of_rule(jobs, "write_nnunet_dataset") if BRONZE in j["output"]]
    return set(re.findall(r"label-WMH_desc-([a-z0-9]+)_mask", job["input"]))


def test_bronze_stage_learns_from_the_chosen_classic_methods(tmp_path):
    every = planned_jobs(tmp_path / "all", "staged")
    assert bronze_labels(every) == {"flairhyst", "flairpct", "t1z"}  # classic.use
    chosen = planned_jobs(
        tmp_path / "one", "staged", stages={"bronze": {"dataset_id": 511, "methods": ["flairhyst"]}}
    )
    assert bronze_labels(chosen) == {"flairhyst"}
    # the silver mask combines classic.silver's methods (default flairhyst alone), and
    # the evaluation scores every method of classic.use
    for jobs in (every, chosen):
        (staple, *_) = of_rule(jobs, "staple_wmh_masks")
        assert set(re.findall(r"desc-([a-z0-9]+)_mask", staple["input"])) == {"flairhyst"}
        (scored, *_) = of_rule(jobs, "evaluate_wmh_segmentation")
        assert {"flairhyst", "flairpct", "t1z", "silver"} <= set(
            re.findall(r"desc-([a-z0-9]+)_mask", scored["input"])
        )


def test_annotation_free_segments_with_the_silver_model(tmp_path):
    jobs = planned_jobs(tmp_path, "annotation_free")
    assert datasets(jobs, "write_nnunet_dataset") == sorted([SILVER, REGION])
    assert trained_from(jobs, SILVER) == {str(k): [] for k in range(FOLDS)}
    assert segmenting_dataset(jobs) == [SILVER]


STAGED = {"training_mode": "staged"}
T1_BRONZE = {"dataset_id": 511, "methods": ["t1z"]}
RESERVED_NAME = {"modality": "FLAIR", "statistic": "zscore", "threshold": 3}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"models": {"lesion": STAGED}, "classic": {"use": []}}, "classic.use is empty"),
        (
            {"models": {"lesion": {**STAGED, "stages": {"bronze": {"dataset_id": 501}}}}},
            "share a dataset id",
        ),
        (
            {"classic": {"use": ["silver"], "methods": {"silver": RESERVED_NAME}}},
            "not one of",
        ),
        ({"classic": {"use": ["flairz", "flair3"]}}, "classic.methods does not define"),
        ({"classic": {"silver": ["flair3"]}}, "classic.silver names ['flair3']"),
        (
            {
                "models": {"lesion": {**STAGED, "stages": {"bronze": T1_BRONZE}}},
                "classic": {"use": ["flairz"]},
            },
            "stages.bronze.methods names ['t1z'], which classic.use does not run",
        ),
    ],
)
def test_impossible_classic_and_stage_settings_are_refused(tmp_path, settings, message):
    dry = dry_run(tmp_path, settings)
    assert dry.returncode != 0
    assert message in dry.stdout + dry.stderr


def sample_sheet(folder: Path, rows: list[dict[str, str]]) -> Path:
    """A sample sheet whose images are empty files (a dry run reads none of them)."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = ["subject", "flair", "t1", "diagnosis", "region_map", "split"]
    lines = ["\t".join(columns)]
    for row in rows:
        for column in ("flair", "t1", "region_map"):
            if row.get(column):
                (folder / row[column]).write_bytes(b"")
        lines.append("\t".join(row.get(c, "") for c in columns))
    (folder / "samples.tsv").write_text("\n".join(lines) + "\n")
    return folder / "samples.tsv"


def subject_row(s: str, split: str, region_map: bool) -> dict[str, str]:
    return {
        "subject": s,
        "flair": f"{s}_FLAIR.nii.gz",
        "t1": f"{s}_T1w.nii.gz",
        "diagnosis": "CN",
        "region_map": f"{s}_dseg.nii.gz" if region_map else "",
        "split": split,
    }


def sheet_jobs(tmp_path: Path, rows: list[dict[str, str]]):
    sheet = sample_sheet(tmp_path / "data", rows)
    dry = dry_run(tmp_path, {"samplesheet": str(sheet)})
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    text = dry.stdout + dry.stderr
    jobs = []
    for block in re.split(r"^\s*(?:local)?rule ", text, flags=re.MULTILINE)[1:]:
        fields = dict(re.findall(r"^\s+(input|output): (.*)$", block, re.MULTILINE))
        jobs.append({"rule": block.split(":", 1)[0], **fields})
    return jobs, text


def test_given_region_maps_label_the_region_model_and_score_it(tmp_path):
    """Train subjects with a region_map learn from it (on their analysis grid); a held-out
    subject's map scores the model, which is therefore trained although the loads use
    the atlas. No lesion masks: the lesion model is trained annotation-free."""
    rows = [
        subject_row("s1", "train", True),
        subject_row("s2", "train", True),
        subject_row("s3", "test", True),
        subject_row("s4", "test", False),
    ]
    jobs, log = sheet_jobs(tmp_path, rows)
    assert "lesion model: trained annotation-free" in log
    assert "region model: trained on 2 subjects (split = train)" in log
    prepared = of_rule(jobs, "prepare_reference_regions")
    assert sorted(re.search(r"sub-(s\d)", j["output"]).group(1) for j in prepared) == ["s1", "s2"]
    assert all(j["output"].endswith("_space-FLAIR_desc-reference_dseg.nii.gz") for j in prepared)
    (region_dataset,) = [j for j in of_rule(jobs, "write_nnunet_dataset") if REGION in j["output"]]
    assert region_dataset["input"].count("desc-reference_dseg") == 2
    assert "desc-atlas_dseg" not in region_dataset["input"]
    (evaluation,) = of_rule(jobs, "evaluate_region_segmentation")
    assert "sub-s3" in evaluation["output"]
    assert str(tmp_path / "data" / "s3_dseg.nii.gz") in evaluation["input"]
    assert datasets(jobs, "write_nnunet_dataset") == [REGION, SILVER]


def test_without_region_maps_the_atlas_loads_need_no_region_model(tmp_path):
    rows = [subject_row(f"s{i}", "", False) for i in range(1, 4)]
    jobs, log = sheet_jobs(tmp_path, rows)
    assert "region model: not used" in log
    assert datasets(jobs, "write_nnunet_dataset") == [SILVER]
    assert not of_rule(jobs, "prepare_reference_regions")
    assert not of_rule(jobs, "evaluate_region_segmentation")
    segment = of_rule(jobs, "segment_subject")
    assert len(segment) == 3
    assert all("desc-regions" not in j["output"] for j in segment)
    assert all("/region.json" not in j["input"] for j in segment)
