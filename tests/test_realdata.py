"""Opt-in: real MS scans (Lesjak et al. 2016) through preprocessing and JHU atlas propagation.

Runs the workflow itself, as a user with real data would: the scans are laid out as a
BIDS dataset (two sessions per patient, links to the files) read through ``input: bids``
with a session filter, and ``atlas.source: jhu``. The scans are as acquired: LPS,
0.7 x 0.7 mm in-plane with 3-4 mm slices, T1w and FLAIR on different grids and not
co-registered, neck included. A third subject pairs patient 12's FLAIR with patient
01's T1w, as a swapped file in a real dataset would. Skipped unless
``WMHMAP_REAL_SCANS_DIR`` and ``WMHMAP_JHU_ATLAS_DIR`` are set (``.ci/run`` sets them when
``../shared/data`` exists).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SHARED_DATA, shared_dir
from test_workflow import snakemake

from wmhmap.brainmask import extract_brain

pytestmark = [pytest.mark.realdata, pytest.mark.workflow]
PATIENTS = ("patient01", "patient12")
SESSION = "study1"
SWAPPED = "lesjakswap"  # patient 12's FLAIR with patient 01's T1w


def visit_anat(results: Path, patient: str) -> Path:
    s = patient.replace("patient", "lesjak")
    return results / f"sub-{s}" / f"ses-{SESSION}" / "anat"


def visit_prefix(patient: str) -> str:
    return f"sub-{patient.replace('patient', 'lesjak')}_ses-{SESSION}"


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


@pytest.fixture(scope="module")
def real_results(tmp_path_factory) -> Path:
    scans = shared_dir("WMHMAP_REAL_SCANS_DIR", SHARED_DATA / "real_scans") / "lesjak_longitudinal"
    jhu = shared_dir("WMHMAP_JHU_ATLAS_DIR", SHARED_DATA / "jhu_eve_atlas")
    folder = tmp_path_factory.mktemp("realdata")
    bids = folder / "bids"
    for p in PATIENTS:
        s = p.replace("patient", "lesjak")
        for study in ("study1", "study2"):
            anat = bids / f"sub-{s}" / f"ses-{study}" / "anat"
            anat.mkdir(parents=True)
            for modality, name in (("FLAIR", "FLAIR"), ("T1w", "T1W")):
                link = anat / f"sub-{s}_ses-{study}_{modality}.nii.gz"
                link.symlink_to(scans / p / f"{study}_{name}.nii.gz")
    anat = bids / f"sub-{SWAPPED}" / f"ses-{SESSION}" / "anat"
    anat.mkdir(parents=True)
    for modality, patient, name in (("FLAIR", "patient12", "FLAIR"), ("T1w", "patient01", "T1W")):
        link = anat / f"sub-{SWAPPED}_ses-{SESSION}_{modality}.nii.gz"
        link.symlink_to(scans / patient / f"{SESSION}_{name}.nii.gz")
    (bids / "dataset_description.json").write_text('{"Name": "Lesjak", "BIDSVersion": "1.9.0"}')
    results = folder / "results"
    config = {
        "input": {"bids": str(bids), "session_label": [SESSION]},
        "results": str(results),
        "atlas": {"source": "jhu", "jhu_dir": str(jhu)},
    }
    (folder / "real.yaml").write_text(yaml.safe_dump(config))
    targets = [
        str(visit_anat(results, p) / f"{visit_prefix(p)}_space-FLAIR_desc-{d}.nii.gz")
        for p in PATIENTS
        for d in ("preproc_FLAIR", "preproc_T1w", "atlas_dseg")
    ] + [str(results / "group" / "registration_qc.tsv")]
    run = snakemake("--configfile", "config/config.yaml", str(folder / "real.yaml"), "--", *targets)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return results


@pytest.mark.parametrize("patient", PATIENTS)
def test_real_t1w_and_flair_end_up_aligned_on_the_flair_grid(real_results, patient):
    anat, prefix = visit_anat(real_results, patient), visit_prefix(patient)
    flair = nib.load(anat / f"{prefix}_space-FLAIR_desc-preproc_FLAIR.nii.gz")
    t1 = nib.load(anat / f"{prefix}_space-FLAIR_desc-preproc_T1w.nii.gz")
    assert "".join(nib.aff2axcodes(flair.affine)) == "RAS"
    assert t1.shape == flair.shape and np.allclose(t1.affine, flair.affine)
    # Aligned: the brains found independently in each modality coincide.
    flair_brain, t1_brain = (np.asarray(extract_brain(i).mask.dataobj) > 0 for i in (flair, t1))
    overlap = dice(flair_brain, t1_brain)
    assert overlap > 0.9, overlap
    regions = np.asarray(nib.load(anat / f"{prefix}_space-FLAIR_desc-atlas_dseg.nii.gz").dataobj)
    assert regions.shape == flair.shape
    # the 34 regions on white matter, white matter of other atlas structures as 35/36
    assert set(range(1, 35)) <= set(np.unique(regions)) <= set(range(37))


def test_real_registration_qc_is_clean(real_results):
    qc = pd.read_csv(real_results / "group" / "registration_qc.tsv", sep="\t")
    qc = qc[qc.subject != f"{SWAPPED}_ses-{SESSION}"]  # (test below)
    assert len(qc) == len(PATIENTS)  # the session filter left study2 out
    assert sorted(qc.subject) == [f"{visit_prefix(p).removeprefix('sub-')}" for p in PATIENTS]
    assert (qc.regions_found == 34).all()
    assert (qc.brain_dice > 0.93).all() and qc.icv_ml.between(1100, 1900).all()
    # T1w and FLAIR on other grids, rigidly registered: their brain masks overlap 0.98
    # (the four Lesjak visits 0.977-0.986; QC flags below 0.95)
    assert qc.t1w_flair_dice.between(0.97, 1).all(), qc.t1w_flair_dice
    # and their CSF meets (0.74-0.80 on the four visits)
    assert qc.t1w_flair_csf_dice.between(0.7, 1).all(), qc.t1w_flair_csf_dice
    # each scan has its column's contrast: white over grey matter 1.18-1.19 on these
    # T1w, 0.84-0.88 on the FLAIRs (benchmarks/bench_scan_contrast.py; flagged at 1.1)
    assert qc.t1w_wm_gm_ratio.between(1.13, 1.4).all(), qc.t1w_wm_gm_ratio
    assert qc.flair_wm_gm_ratio.between(0.75, 1.0).all(), qc.flair_wm_gm_ratio
    # and CSF is dark on both: the brightest 5 % of the brain over the white matter, each
    # scan alone 1.03 on these T1w, 1.32-1.38 on the FLAIRs (flagged above 1.6)
    assert qc.t1w_bright_wm_ratio.between(0.95, 1.15).all(), qc.t1w_bright_wm_ratio
    assert qc.flair_bright_wm_ratio.between(1.15, 1.5).all(), qc.flair_bright_wm_ratio
    # the fits are clean; what is flagged is the clinical T1w slabs (3 mm slices, 39 and
    # 48 of them), which cut off the cerebellum or the vertex: their brain masks cover
    # 3,000-3,500 mm² of an outermost slice (the FLAIRs: 1,550 at most)
    edges = dict(zip(qc.subject, qc.fov_edge, strict=True))
    assert edges == {
        "lesjak01_ses-study1": "inferior edge of the T1w",
        "lesjak12_ses-study1": "superior edge of the T1w",
    }
    assert qc.fov_edge_mm2.between(3000, 3600).all(), qc.fov_edge_mm2
    reasons = qc["flags"]  # (qc.flags is pandas' own attribute)
    assert qc.flagged.all() and reasons.str.startswith("brain cut by the field of view").all()
    assert not reasons.str.contains(";").any(), reasons  # and nothing else


def test_a_t1w_of_another_person_is_flagged(real_results):
    """Patient 01's T1w fits patient 12's FLAIR as a brain outline (measured 0.950, at
    the brain-overlap threshold), but their ventricles and sulci do not meet (0.26)."""
    qc = pd.read_csv(real_results / "group" / "registration_qc.tsv", sep="\t")
    (row,) = qc[qc.subject == f"{SWAPPED}_ses-{SESSION}"].to_dict("records")
    assert row["t1w_flair_dice"] > 0.9, row  # the outline alone cannot tell
    assert row["t1w_flair_csf_dice"] < 0.4, row
    assert row["flagged"] and "CSF overlap" in row["flags"], row["flags"]
    assert "the T1w is another person's" in row["flags"]
