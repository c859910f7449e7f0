"""Two runs of the tests config give byte-identical tables.

The shared run of the tests config is copied and the lesion model's trained folds and
exported zip are deleted from the copy. Snakemake then trains them again, and redoes
everything after them (inference, regional loads, evaluation, statistics, figures,
report). The tests config seeds training (``nnunet.seed``) and makes registrations
reproducible; every TSV of the second run must equal the first's byte for byte, and
the masks voxel for voxel. (The region model trains through the same code; retraining
it too would add minutes to the suite and test nothing new.)

What comes before training is not redone here (8 minutes more). nnU-Net's planning and
preprocessing are deterministic by design (fixed seeds); the subject-level
preprocessing is tested on its own (``tests/test_preprocess.py``: registrations
bit-identical across processes; ``tests/test_faults.py`` and ``tests/test_slurm.py``:
a subject rebuilt from scratch equals the first run's).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import copy_run, snakemake

pytestmark = pytest.mark.workflow
UNTIMED = ("logs", "benchmarks")
LESION = "Dataset501_WMHLesion"  # wall-clock times and log lines differ between runs


def tables(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*.tsv"))
        if p.relative_to(root).parts[0] not in UNTIMED
    }


def test_retraining_the_lesion_model_gives_byte_identical_tables(results, tmp_path):
    root = copy_run(results, tmp_path / "results")
    shutil.rmtree(root / "nnunet" / "models" / LESION)
    (root / "nnunet" / "export" / f"{LESION}.zip").unlink()
    started = time.time()
    rerun = snakemake("--config", f"results={root}", timeout=1500)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]

    first, second = tables(results), tables(root)
    assert first.keys() == second.keys()
    rebuilt = {name for name, path in second.items() if path.stat().st_mtime > started}
    # the tables after training really were written again, not kept from the copy
    for name in (
        "group/regional_loads_long.tsv",
        "group/evaluation/wmh_metrics.tsv",
        "group/stats/classification_auc.tsv",
        "group/stats/bland_altman.tsv",
    ):
        assert name in rebuilt, sorted(rebuilt)
    assert sum("regionalloads" in name for name in rebuilt) >= 6
    different = [
        name
        for name in first
        if first[name].read_text().replace(str(results), str(root)) != second[name].read_text()
    ]
    assert different == []

    masks = sorted(results.glob("sub-*/anat/*_desc-wmh_mask.nii.gz"))
    assert len(masks) >= 6
    for mask in masks:
        again = root / mask.relative_to(results)
        assert again.stat().st_mtime > started
        assert np.array_equal(
            np.asarray(nib.load(mask).dataobj), np.asarray(nib.load(again).dataobj)
        ), mask.name
