"""Faults: a run killed with SIGKILL in the middle of a long rule loses nothing.

The shared local run of the tests config is copied and one test subject's results are
deleted from the copy. Snakemake rebuilds that subject's regional loads; while the
atlas registration of the subject runs, the whole Snakemake process group is killed
with SIGKILL (no chance to clean up). The rerun must redo the interrupted rule, never
take a truncated file as done, and end with results identical to the uninterrupted
run's (the tests config makes registrations reproducible).

Training faults too: a fold killed mid-training resumes, and a fold that ends having
learnt nothing (collapsed) is trained afresh.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, copy_run, planned_rules, snakemake, snakemake_command

pytestmark = pytest.mark.workflow
KILLED_RULE = "propagate_atlas_labels"


def kill_during(cmd: list[str], started: Path, delay_s: float = 2, timeout_s: float = 600) -> None:
    """Start ``cmd``; SIGKILL its process group ``delay_s`` after ``started`` appears."""
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout_s
    try:
        while not started.exists():
            if proc.poll() is not None:
                pytest.fail(f"Snakemake ended (status {proc.returncode}) before {started}")
            if time.monotonic() > deadline:
                pytest.fail(f"{started} did not appear in {timeout_s:.0f} s")
            time.sleep(0.2)
        time.sleep(delay_s)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_kill_9_during_registration_then_rerun_loses_nothing(results, tmp_path):
    root = copy_run(results, tmp_path / "results")
    sheet = pd.read_csv(root / "demo" / "samplesheet.tsv", sep="\t", dtype=str)
    subject = sorted(sheet[sheet.split == "test"].subject)[0]
    shutil.rmtree(root / f"sub-{subject}")
    anat = f"sub-{subject}/anat/sub-{subject}"
    target = str(root / f"{anat}_desc-regionalloads_stats.tsv")
    started = root / "logs" / KILLED_RULE / f"subject-{subject}_space-FLAIR.log"
    started.unlink(missing_ok=True)

    config = ("--config", f"results={root}")
    kill_during(snakemake_command(*config, "--", target), started)
    atlas = root / f"{anat}_space-FLAIR_desc-atlas_dseg.nii.gz"
    assert not atlas.exists(), "the killed rule left its output in place"
    # the lock of the killed run stays behind, as after any SIGKILL: release it
    assert snakemake(*config, "--unlock", "--", target).returncode == 0

    dry = snakemake(*config, "-n", "--", target)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert KILLED_RULE in planned_rules(dry)

    rerun = snakemake(*config, "--rerun-incomplete", "--", target, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    for name in (
        "space-FLAIR_desc-atlas_dseg",
        "space-FLAIR_desc-brain_mask",
        "space-FLAIR_desc-preproc_T1w",
        "space-FLAIR_desc-wmh_mask",
    ):
        rebuilt = np.asarray(nib.load(root / f"{anat}_{name}.nii.gz").dataobj)
        assert np.array_equal(rebuilt, nib.load(results / f"{anat}_{name}.nii.gz").dataobj), name
    table = f"{anat}_desc-regionalloads_stats.tsv"
    assert (root / table).read_bytes() == (results / table).read_bytes()


def test_one_corrupt_subject_with_keep_going_loses_only_that_subject(results, tmp_path):
    """A truncated FLAIR: the subject is listed as failed, the rest of the cohort is done."""
    root = copy_run(results, tmp_path / "results")
    sheet = pd.read_csv(root / "demo" / "samplesheet.tsv", sep="\t", dtype=str)
    bad = sorted(sheet[sheet.split == "test"].subject)[0]
    shutil.rmtree(root / f"sub-{bad}")  # a new subject whose scan arrived broken
    flair = root / "demo" / "rawdata" / f"sub-{bad}" / "anat" / f"sub-{bad}_FLAIR.nii.gz"
    data = flair.read_bytes()
    flair.write_bytes(data[: len(data) // 2])

    config = ("--config", f"results={root}")
    run = snakemake(*config, "--keep-going", timeout=1500)
    assert run.returncode != 0, "a subject failed: the run must say so"
    log = run.stdout + run.stderr
    assert "correct_bias_n4" in log

    failed = pd.read_csv(root / "group" / "failed_subjects.tsv", sep="\t", dtype=str)
    assert failed.subject.tolist() == [bad]
    assert failed.file.tolist() == [str(flair)]
    assert "Fix:" in failed.message[0]
    status = pd.read_csv(root / "group" / "input_validation.tsv", sep="\t", dtype=str)
    assert sorted(status.subject) == sorted(sheet.subject)
    assert (status.status == "ok").sum() == len(sheet) - 1

    # nothing of the broken subject looks finished
    assert not list((root / f"sub-{bad}").glob("anat/*.nii.gz"))
    # every other subject's loads as in the uninterrupted run, without the broken one
    wide = pd.read_csv(root / "group" / "regional_loads_wide.tsv", sep="\t", dtype={"subject": str})
    before = pd.read_csv(
        results / "group" / "regional_loads_wide.tsv", sep="\t", dtype={"subject": str}
    )
    pd.testing.assert_frame_equal(
        wide.reset_index(drop=True), before[before.subject != bad].reset_index(drop=True)
    )
    for table in ("registration_qc.tsv", "brain_volumes.tsv", "loads_summary.tsv"):
        rows = pd.read_csv(root / "group" / table, sep="\t", dtype={"subject": str})
        assert sorted(rows.subject) == sorted(set(sheet.subject) - {bad}), table
    # the statistics ran on the rest and say how many were left out
    auc = pd.read_csv(root / "group" / "stats" / "classification_auc.tsv", sep="\t")
    auc_before = pd.read_csv(results / "group" / "stats" / "classification_auc.tsv", sep="\t")
    assert (auc.n_pos + auc.n_neg).sum() < (auc_before.n_pos + auc_before.n_neg).sum()
    stats_log = (root / "logs" / "classify_diagnoses" / "classify_diagnoses.log").read_text()
    assert "1 subject(s) excluded (failed input validation" in stats_log and bad in stats_log

    # the report of what was made still builds, with the failed-subjects table in it
    html = tmp_path / "report.html"
    report = snakemake(*config, "--report", str(html), "--", "figures")
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    assert "failed_subjects.tsv" in html.read_text(errors="replace")


def test_kill_9_during_training_resumes_from_the_last_checkpoint(results, tmp_path):
    """A fold killed after its first checkpoint resumes from it, not from epoch 0."""
    root = copy_run(results, tmp_path / "results")
    (fold,) = (root / "nnunet" / "models" / "Dataset501_WMHLesion").glob("*/fold_0")
    shutil.rmtree(fold)
    target = str(fold / "checkpoint_final.pth")
    config = ("--config", f"results={root}")
    # the tests config saves a checkpoint after every epoch of the lesion model's two
    kill_during(snakemake_command(*config, "--", target), fold / "checkpoint_latest.pth", 0.5)
    assert not (fold / "checkpoint_final.pth").exists()
    assert snakemake(*config, "--unlock", "--", target).returncode == 0

    rerun = snakemake(*config, "--rerun-incomplete", "--", target, timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    (log,) = (root / "logs" / "train_nnunet_fold").glob("dataset-Dataset501_*fold-0.log")
    text = log.read_text()
    corrupt = fold / "checkpoint_latest.pth.corrupt"
    # killed while writing the checkpoint: set aside and trained afresh; else resumed
    assert ("resuming Dataset501_WMHLesion fold 0" in text) != corrupt.exists(), text[-2000:]
    import torch

    final = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert final["current_epoch"] == 2


def test_a_collapsed_fold_is_trained_afresh_with_the_next_seed(results, tmp_path):
    """The tests config's two-epoch lesion folds find no lesion on their validation
    patches (pseudo Dice 0): with nnunet.collapse_retries 1 the fold trains a second
    time, seed 1 instead of 0, keeping the first attempt's logs, and a warning says the
    fold is kept collapsed."""
    import torch

    from wmhmap.nnunet.training import fold_progress

    root = copy_run(results, tmp_path / "results")
    (fold,) = (root / "nnunet" / "models" / "Dataset501_WMHLesion").glob("*/fold_0")
    first = fold_progress(fold / "checkpoint_final.pth")
    assert first.collapsed and first.epochs == 2, first
    weights = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    shutil.rmtree(fold)
    retries = tmp_path / "retries.yaml"
    retries.write_text("nnunet: {collapse_retries: 1}\n")
    target = str(fold / "checkpoint_final.pth")
    run = snakemake(str(retries), "--config", f"results={root}", "--", target, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    (log,) = (root / "logs" / "train_nnunet_fold").glob("dataset-Dataset501_*fold-0.log")
    text = log.read_text()
    assert "Dataset501_WMHLesion fold 0 collapsed" in text and "training it afresh" in text
    assert "kept after 1 retries" in text, text[-2000:]
    assert list((fold / "collapsed_attempt_1").glob("training_log_*.txt"))
    assert not list((fold / "collapsed_attempt_1").glob("*.pth"))
    # the first attempt repeated the shared run's training (seed 0); the second differs
    again = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert again["current_epoch"] == 2
    name = next(iter(weights["network_weights"]))
    assert not torch.equal(weights["network_weights"][name], again["network_weights"][name])
