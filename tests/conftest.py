"""Shared fixtures: small in-memory images and one simulated demo subject."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TIMEOUT_S = 1800


def snakemake_command(*args: str) -> list[str]:
    """The Snakemake command line on the tests config; targets go after ``--``."""
    return [SNAKEMAKE, "--cores", "2", "--configfile", "config/tests.yaml", *args]


def snakemake(
    *args: str, timeout: int = TIMEOUT_S, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Snakemake on the tests config (config/tests.yaml), from the repository root."""
    env = {**(env or os.environ), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        snakemake_command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env
    )


def planned_rules(dry: subprocess.CompletedProcess[str]) -> set[str]:
    """Rules of the jobs a dry run plans (not the rule names of its other messages)."""
    return set(re.findall(r"^\s*rule (\w+):", dry.stdout + dry.stderr, re.MULTILINE))


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> Path:
    """One run of the whole DAG on the tests config, shared by the workflow tests.

    WMHMAP_WORKFLOW_RESULTS=<folder> keeps the run between sessions (development):
    Snakemake then redoes only what changed.
    """
    kept = os.environ.get("WMHMAP_WORKFLOW_RESULTS")
    root = Path(kept).resolve() if kept else tmp_path_factory.mktemp("workflow") / "results"
    done = snakemake("--config", f"results={root}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return root


def make_image(data, zooms=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), dtype=np.float32):
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = origin
    img = nib.Nifti1Image(np.asarray(data).astype(dtype), affine)
    img.header.set_xyzt_units("mm", "sec")
    return img


@pytest.fixture(scope="session")
def template():
    from wmhmap.demo.anatomy import load_template

    return load_template()


@pytest.fixture(scope="session")
def demo_labels(template):
    from wmhmap.demo.atlas import parcellate_white_matter

    return parcellate_white_matter(template)


@pytest.fixture(scope="session")
def demo_atlas(template, demo_labels):
    from wmhmap.atlas import Atlas
    from wmhmap.demo.atlas import tissue_classes

    return Atlas(
        t1=template.image(template.t1),
        labels=template.image(demo_labels, np.uint8),
        brain_mask=template.image(template.brain, np.uint8),
        white_matter=template.image(tissue_classes(template) == 3, np.uint8),
    )


def simulate(template, labels, index: int, t1_mm=2.0, flair_mm=(2.0, 2.0, 4.0), seed=7):
    from wmhmap.demo.cohort import CohortDesign, demo_cohort
    from wmhmap.demo.simulate import SubjectSpec, scanner_profiles, simulate_subject

    row = demo_cohort(CohortDesign(n_subjects=6, n_train=3, seed=seed)).iloc[index]
    profiles = scanner_profiles((t1_mm, t1_mm, t1_mm), flair_mm, 3)
    spec = SubjectSpec(row.subject, row.diagnosis, row.site, float(row.age), int(row.seed))
    return simulate_subject(template, labels, spec, profiles[row.site])


@pytest.fixture(scope="session")
def simulated_subject(template, demo_labels):
    """An AD subject of site B (LPS headers), T1w 2 mm, FLAIR 2 x 2 x 4 mm."""
    return simulate(template, demo_labels, 5)


class DemoPropagation(NamedTuple):
    """The workflow's anatomy steps on one demo subject (:func:`propagate_demo_subject`)."""

    subject: Any  # wmhmap.demo.simulate.SimulatedSubject
    t1: Any  # the prepared scans (wmhmap.preprocess.PreparedScan)
    flair: Any
    t1_to_flair: Any  # the rigid fit (wmhmap.preprocess.LinearTransform)
    propagation: Any  # wmhmap.atlas.Propagation


def propagate_demo_subject(demo_atlas, subject, **settings) -> DemoPropagation:
    """The workflow's anatomy steps on a demo subject: brain extraction and N4 of each
    scan, rigid T1w -> FLAIR, atlas propagation onto the FLAIR grid."""
    from wmhmap.atlas import PropagationSettings, propagate_atlas
    from wmhmap.preprocess import prepare_scan, register_linear

    t1 = prepare_scan(subject.t1)
    flair = prepare_scan(subject.flair)
    rigid = register_linear(flair.image, t1.image, kind="Rigid")
    propagation = propagate_atlas(
        demo_atlas, t1.image, flair.image, t1.brain, rigid, PropagationSettings(**settings)
    )
    return DemoPropagation(subject, t1, flair, rigid, propagation)


@pytest.fixture(scope="session")
def demo_propagations(demo_atlas, template, demo_labels, simulated_subject):
    """A CN demo subject and the AD subject of ``simulated_subject`` through the anatomy
    steps, default settings: the atlas, brain-volume and QC tests share them (two
    propagations, about 40 s)."""
    return [
        propagate_demo_subject(demo_atlas, subject)
        for subject in (simulate(template, demo_labels, 0), simulated_subject)
    ]


def shared_dir(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{variable} is not set (opt-in test on real data in ../shared/data)")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"{variable}={value} is not a folder")
    return path


def copy_run(results: Path, target: Path) -> Path:
    """Copy a results folder keeping modification times; repoint its demo sample sheet
    (which holds absolute paths) at the copy, keeping its time too."""
    import shutil

    shutil.copytree(results, target)
    sheet = target / "demo" / "samplesheet.tsv"
    stat = sheet.stat()
    sheet.write_text(sheet.read_text().replace(str(results), str(target)))
    os.utime(sheet, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return target
