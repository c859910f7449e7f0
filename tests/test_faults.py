"""Faults: a run killed with SIGKILL in the middle of a long rule loses nothing.

The shared local run of the tests config is copied and one test subject's results are
deleted from the copy. Snakemake rebuilds that subject's regional loads; while the
atlas registration of the subject runs, the whole Snakemake process group is killed
with SIGKILL (no chance to clean up). The rerun must redo the interrupted rule, never
take a truncated file as done, and end with results identical to the uninterrupted
run's (the tests config makes registrations reproducible).
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


def kill_during(cmd: list[str], started: Path, timeout_s: float = 600) -> None:
    """Start ``cmd``; SIGKILL its process group 2 s after ``started`` appears."""
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
        time.sleep(2)
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
