"""The workflow through a real SLURM scheduler (slurmctld + slurmd on localhost).

The shared local run of the tests config is copied, one test subject's results are
deleted from the copy, and ``snakemake --workflow-profile workflow/profiles/slurm``
rebuilds them through sbatch: its preprocessing and segmentation chains, and the
cohort tables and statistics after them (one subject keeps the test to a few minutes).
The rebuilt results must match the local run's, and the scheduler must have seen one
job per chain of the subject.

Installs slurm-wlm and munge with apt-get when they are missing (root); skips where that
is impossible. Bounded: the Snakemake run has a timeout and the cluster is stopped
(queued jobs cancelled, daemons terminated) whatever happens.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, SNAKEMAKE, copy_run
from slurm_cluster import LocalSlurm, SlurmUnavailable

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]
TIMEOUT_S = 1200
PREPROCESS_RULES = {
    "validate_subject_inputs",
    "correct_bias_n4",
    "register_t1w_to_flair",
    "normalize_intensity",
    "propagate_atlas_labels",
    "map_zones",
    "prepare_reference_mask",  # the test subjects have expert masks
    "segment_wmh_classic",  # ... so their classic masks are scored too
    "staple_wmh_masks",
}
SEGMENT_CHAIN = {
    "segment_subject",  # both models
    "compute_regional_loads",
    "evaluate_wmh_segmentation",
    "evaluate_region_segmentation",
    "measure_brain_volumes",  # the T1w with its WMH mask filled (stats.fill_lesions)
}
# a subject's overlay draws the intervals calibrated on the training subjects' loads:
# after the cohort's segment jobs, bundled with other subjects' overlays
OVERLAY = {"plot_subject_overlay"}


@pytest.fixture(scope="module")
def cluster():
    # not under pytest's tmp folders: those are private to root and munged runs as munge
    root = Path(tempfile.mkdtemp(prefix="wmhmap-slurm-"))
    try:
        running = LocalSlurm.start(root)
    except SlurmUnavailable as err:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(str(err))
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def slurm_run(cluster, results, tmp_path_factory):
    work = tmp_path_factory.mktemp("slurm")
    root = copy_run(results, work / "results")
    sheet = pd.read_csv(root / "demo" / "samplesheet.tsv", sep="\t", dtype=str)
    rebuilt = sorted(sheet[sheet.split == "test"].subject)[:1]
    for s in rebuilt:
        shutil.rmtree(root / f"sub-{s}")
    cmd = [
        SNAKEMAKE,
        "--workflow-profile", "workflow/profiles/slurm",
        "--configfile", "config/tests.yaml",
        "--config", f"results={root}",
        # this cluster keeps no accounting database: squeue answers, no account
        "--slurm-status-command", "squeue",
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks", "5",
        "--seconds-between-status-checks", "5",
        "--slurm-logdir", str(work / "slurm_logs"),
        "--slurm-keep-successful-logs",
        "--verbose",
    ]  # fmt: skip
    env = {**cluster.env, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-6000:]
    jobs = cluster.jobs()
    for job in jobs:  # what each SLURM job ran, from its own log
        logs = list((work / "slurm_logs").rglob(f"{job['id']}.log"))
        job["log"] = logs[0].read_text() if len(logs) == 1 else ""
    return root, rebuilt, jobs, done.stdout + done.stderr


def ran(job: dict[str, str]) -> tuple[set[str], set[str]]:
    """The rules and subjects of the jobs a SLURM job ran (from its log)."""
    rules = set(re.findall(r"^\s*rule (\w+):", job["log"], re.MULTILINE))
    subjects = set(re.findall(r"^\s*wildcards:.*\bsubject=(\w+)", job["log"], re.MULTILINE))
    return rules, subjects


def test_every_job_went_through_slurm_and_finished(slurm_run):
    _, _, jobs, log = slurm_run
    assert jobs, "the scheduler saw no job"
    assert {j["state"] for j in jobs} == {"COMPLETED"}
    submitted = log.count("sbatch call: sbatch")
    assert submitted == len(jobs)
    # cohort tables are local rules: gathered on the submitting host
    assert not any("collect" in j["comment"] for j in jobs)


def test_each_subject_chain_is_one_grouped_job(slurm_run):
    _, rebuilt, jobs, _ = slurm_run
    assert all(job["log"] for job in jobs), "a SLURM job left no log"
    chains: dict[str, list[set[str]]] = {s: [] for s in rebuilt}
    for job in jobs:
        rules, subjects = ran(job)
        if subjects:
            assert len(subjects) == 1, f"job {job['id']} mixed subjects {subjects}"
            chains[subjects.pop()].append(rules)
    for subject, subject_jobs in chains.items():
        # two jobs per subject: preprocessing, and segmentation (both models) with
        # everything built on it; its overlay in a bundle of overlays
        assert sorted(map(sorted, subject_jobs)) == sorted(
            map(sorted, (PREPROCESS_RULES, SEGMENT_CHAIN, OVERLAY))
        ), subject
    preprocess = [j for j in jobs if ran(j)[0] == PREPROCESS_RULES]
    # the widest layer of a subject's chain, as Snakemake sums it over the group's DAG:
    # four one-thread jobs side by side (normalisations, reference mask, zone maps); the
    # brain-volume job (2 threads beside them: 6) went to the segment group when it
    # began to fill the WMH mask
    assert {j["cpus"] for j in preprocess} == {"4"}


def test_results_match_the_local_run(slurm_run, results):
    """Same inputs, same code, same threads: the SLURM run reproduces the local one.

    The tests config sets ``registration.reproducible`` (fixed ANTs seed, one ITK thread
    per registration), so images and tables must be identical, not just close.
    """
    root, rebuilt, _, _ = slurm_run
    for s in rebuilt:
        for name in (
            "space-FLAIR_desc-preproc_FLAIR",
            "space-FLAIR_desc-preproc_T1w",
            "space-FLAIR_desc-atlas_dseg",
            "space-FLAIR_label-WMH_probseg",
            "space-FLAIR_desc-wmh_mask",
        ):
            path = f"sub-{s}/anat/sub-{s}_{name}.nii.gz"
            local = np.asarray(nib.load(results / path).dataobj)
            remote = np.asarray(nib.load(root / path).dataobj)
            assert np.array_equal(local, remote), path
    for name in ("brain_volumes.tsv", "registration_qc.tsv", "regional_loads_wide.tsv"):
        local = (results / "group" / name).read_bytes()
        assert (root / "group" / name).read_bytes() == local, name
    for stat in ("classification_auc.tsv", "bland_altman.tsv"):
        assert (root / "group" / "stats" / stat).stat().st_mtime > (
            results / "group" / "stats" / stat
        ).stat().st_mtime, f"{stat} was not rebuilt after the subjects"
