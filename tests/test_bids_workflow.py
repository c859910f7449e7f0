"""The workflow on a BIDS dataset: BIDS-derivative names, sessions, and the same masks.

The dry-run test plans the whole DAG of a tiny BIDS dataset with sessions (images are
empty files: nothing is read); the run test segments visits copied from the shared
demo run with that run's exported models, and compares.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import snakemake
from test_workflow import extra_config

pytestmark = pytest.mark.workflow

# sub-<label>/[ses-<label>/]<datatype>/sub-<label>[_ses-<label>]_<key>-<value>..._<suffix><ext>
DERIVATIVE_NAME = re.compile(
    r"^sub-(?P<sub>[A-Za-z0-9]+)/(?:ses-(?P<ses>[A-Za-z0-9]+)/)?(?P<datatype>anat|xfm|qc|figures)/"
    r"sub-(?P=sub)(?:_ses-(?P=ses))?(?P<entities>(?:_[a-z]+-[A-Za-z0-9]+)*)"
    r"_(?P<suffix>[A-Za-z0-9]+)(?P<extension>\.nii\.gz|\.tsv|\.json|\.mat|\.png|\.pdf)$"
)
# BIDS entity order (the subset wmhmap writes)
ENTITY_ORDER = ["ses", "from", "to", "space", "label", "desc", "mode"]


def bids_dataset(root: Path, visits: dict[tuple[str, str], dict[str, Path | None]]) -> Path:
    """A BIDS dataset with sessions: ``(subject, session) -> {FLAIR, T1w, mask}`` sources
    (None: an empty file; absent: no such scan)."""
    (root / "derivatives" / "masks").mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "tiny test cohort", "BIDSVersion": "1.9.0", "DatasetDOI": "10.1/x"})
    )
    for (sub, ses), files in visits.items():
        for kind, source in files.items():
            base = root / "derivatives" / "masks" if kind == "mask" else root
            suffix = "label-WMH_mask" if kind == "mask" else kind
            target = base / f"sub-{sub}/ses-{ses}/anat/sub-{sub}_ses-{ses}_{suffix}.nii.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            if source is None:
                target.write_bytes(b"")
            else:
                shutil.copyfile(source, target)
    return root


def participants(root: Path, rows: list[dict[str, str]]) -> None:
    pd.DataFrame(rows).to_csv(root / "participants.tsv", sep="\t", index=False)


def planned_outputs(stdout: str) -> list[str]:
    return [
        path.strip()
        for line in re.findall(r"^\s*output: (.+)$", stdout, re.MULTILINE)
        for path in line.split(",")
    ]


def test_every_planned_subject_file_has_a_bids_derivative_name(tmp_path):
    visits = {
        ("01", "base"): {"FLAIR": None, "T1w": None, "mask": None},
        ("01", "m12"): {"FLAIR": None, "T1w": None, "mask": None},
        ("02", "base"): {"FLAIR": None, "T1w": None, "mask": None},
        ("03", "base"): {"FLAIR": None, "mask": None},  # lacks T1w
        ("04", "base"): {"T1w": None},  # lacks FLAIR: its analysis grid is the T1w's
    }
    root = bids_dataset(tmp_path / "bids", visits)
    participants(
        root,
        [
            {"participant_id": f"sub-{s}", "dx": dx, "age": "70", "sex": "F", "split": split}
            for s, dx, split in (
                ("01", "AD", "train"),
                ("02", "HC", "train"),
                ("03", "AD", "test"),
                ("04", "HC", "test"),
            )
        ],
    )
    results = tmp_path / "results"
    cfg = extra_config(
        tmp_path,
        "bids.yaml",
        {
            "results": str(results),
            "input": {
                "bids": str(root),
                "columns": {"diagnosis": "dx"},
                "diagnosis_labels": {"HC": "CN"},
                "lesion_masks": str(root / "derivatives" / "masks"),
            },
            # the region model's files too (without region maps it runs only for these)
            "loads": {"regions": "model"},
        },
    )
    dry = snakemake("--configfile", "config/tests.yaml", cfg, "-n")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    outputs = planned_outputs(dry.stdout)
    assert f"{results}/dataset_description.json" in outputs
    subject_files = [
        o.removeprefix(f"{results}/") for o in outputs if o.startswith(f"{results}/sub-")
    ]
    assert len(subject_files) > 5 * 20
    visits_seen = set()
    for name in subject_files:
        m = DERIVATIVE_NAME.match(name)
        assert m, f"not a BIDS derivative name: {name}"
        keys = [part.split("-")[0] for part in m["entities"].strip("_").split("_") if part]
        assert keys == sorted(keys, key=ENTITY_ORDER.index), name
        visits_seen.add((m["sub"], m["ses"]))
        if m["sub"] == "04" and "space" in keys:
            assert "_space-T1w_" in name, name
        elif name.endswith("_space-T1w_desc-brain_mask.nii.gz") or name.endswith(
            "_space-T1w_desc-brain_mask.json"
        ):
            pass  # the T1w's own brain mask, on the T1w's grid
        elif "space" in keys:
            assert "_space-FLAIR_" in name, name
    assert visits_seen == set(visits)
    for expected in (
        "sub-01/ses-m12/anat/sub-01_ses-m12_space-FLAIR_desc-wmh_mask.nii.gz",
        "sub-01/ses-m12/anat/sub-01_ses-m12_space-FLAIR_desc-regions_dseg.nii.gz",
        "sub-01/ses-m12/anat/sub-01_ses-m12_desc-regionalloads_stats.tsv",
        "sub-04/ses-base/anat/sub-04_ses-base_space-T1w_desc-wmh_mask.nii.gz",
        "sub-03/ses-base/xfm/sub-03_ses-base_from-atlas_to-FLAIR_mode-image_xfm.mat",
    ):
        assert expected in subject_files, expected
    # the later visit of subject 01 is checked against its first (one person?); the
    # subjects with one visit have nothing to compare
    checks = [name for name in subject_files if "_desc-firstvisit_" in name]
    assert checks == ["sub-01/ses-m12/qc/sub-01_ses-m12_desc-firstvisit_registration.tsv"]
    wrong_space = f"{results}/sub-01/ses-m12/anat/sub-01_ses-m12_space-T1w_desc-wmh_mask.nii.gz"
    refused = snakemake("--configfile", "config/tests.yaml", cfg, "-n", "--", wrong_space)
    assert refused.returncode != 0
    assert "analysis grid is FLAIR, not T1w" in refused.stdout + refused.stderr
    no_session = extra_config(tmp_path, "session.yaml", {"stats": {"session": "m24"}})
    refused = snakemake("--configfile", "config/tests.yaml", cfg, no_session, "-n")
    assert refused.returncode != 0
    assert "no subject has a session 'm24'" in refused.stdout + refused.stderr


def test_a_malformed_bids_dataset_stops_the_run_before_any_job(tmp_path):
    root = bids_dataset(tmp_path / "bids", {("01", "1"): {"FLAIR": None}})
    (root / "sub-01" / "ses-1" / "anat" / "sub-01_ses-1_run-2_FLAIR.nii.gz").write_bytes(b"")
    cfg = extra_config(
        tmp_path, "bids.yaml", {"results": str(tmp_path / "results"), "input": {"bids": str(root)}}
    )
    dry = snakemake("--configfile", "config/tests.yaml", cfg, "-n")
    assert dry.returncode != 0
    message = dry.stdout + dry.stderr
    assert "Invalid BIDS dataset: subject 01" in message
    assert "2 FLAIR scans match" in message and "Fix:" in message
    assert not (tmp_path / "results").exists()


def test_bids_visits_are_segmented_like_the_sample_sheet_subjects(results, tmp_path):
    """Visits copied from demo subjects get the demo run's masks, voxel for voxel."""
    sheet = pd.read_csv(results / "demo" / "samplesheet.tsv", sep="\t", dtype=str)
    a, c = sorted(sheet.subject)[:2]  # any subjects: inference is the same for all

    def raw(s, modality):
        return results / "demo" / "rawdata" / f"sub-{s}" / "anat" / f"sub-{s}_{modality}.nii.gz"

    visits = {
        ("P1", "1"): {"FLAIR": raw(a, "FLAIR"), "T1w": raw(a, "T1w")},
        # a rescan of one person: the same scans (two phantoms, one anatomy deformed,
        # overlap in CSF like two people at the flag's edge: 0.55)
        ("P1", "2"): {"FLAIR": raw(a, "FLAIR"), "T1w": raw(a, "T1w")},
        ("P2", "1"): {"FLAIR": raw(c, "FLAIR")},
    }
    source = {("P1", "1"): a, ("P1", "2"): a}
    root = bids_dataset(tmp_path / "bids", visits)
    participants(
        root,
        [
            {"participant_id": "sub-P1", "diagnosis": "AD", "sex": "female", "age": "70"},
            {"participant_id": "sub-P2", "diagnosis": "CN", "sex": "M", "age": "n/a"},
        ],
    )
    export = results / "nnunet" / "export"
    out = tmp_path / "results"
    cfg = extra_config(
        tmp_path,
        "bids.yaml",
        {
            "results": str(out),
            "input": {"bids": str(root)},
            "models": {
                "lesion": {
                    "dataset_id": 501,
                    "pretrained": str(export / "Dataset501_WMHLesion.zip"),
                },
                "region": {
                    "dataset_id": 502,
                    "pretrained": str(export / "Dataset502_WMHRegions.zip"),
                },
            },
        },
    )
    targets = [
        str(out / "group" / name)
        for name in ("regional_loads_wide.tsv", "samples.tsv", "registration_qc.tsv")
    ] + [str(out / "dataset_description.json")]
    run = snakemake("--configfile", "config/tests.yaml", cfg, "--", *targets, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    for (sub, ses), s in source.items():
        visit = out / f"sub-{sub}" / f"ses-{ses}" / "anat" / f"sub-{sub}_ses-{ses}"
        demo = results / f"sub-{s}" / "anat" / f"sub-{s}"
        for name in ("space-FLAIR_desc-wmh_mask", "space-FLAIR_desc-atlas_dseg"):
            got = np.asarray(nib.load(f"{visit}_{name}.nii.gz").dataobj)
            want = np.asarray(nib.load(f"{demo}_{name}.nii.gz").dataobj)
            np.testing.assert_array_equal(got, want, err_msg=f"{sub} {ses} {name}")
        ours = pd.read_csv(f"{visit}_desc-regionalloads_stats.tsv", sep="\t")
        theirs = pd.read_csv(f"{demo}_desc-regionalloads_stats.tsv", sep="\t")
        assert ours.subject.unique().tolist() == [f"{sub}_ses-{ses}"]
        # what calibrates the intervals follows the visit's role in its run: the demo
        # subject trained there (a held-out fold) and had an expert mask; the visit has
        # neither here
        assert ours.held_out_mm3.isna().all() and ours.reference_mm3.isna().all()
        role = ["subject", "held_out_mm3", "reference_mm3"]
        pd.testing.assert_frame_equal(ours.drop(columns=role), theirs.drop(columns=role))

    wide = pd.read_csv(out / "group" / "regional_loads_wide.tsv", sep="\t", dtype={"subject": str})
    assert sorted(wide.subject) == ["P1_ses-1", "P1_ses-2", "P2_ses-1"]
    visits = pd.read_csv(out / "group" / "visits.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert visits[["subject", "participant_id", "session_id", "sex"]].values.tolist() == [
        ["P1_ses-1", "sub-P1", "ses-1", "F"],
        ["P1_ses-2", "sub-P1", "ses-2", "F"],
        ["P2_ses-1", "sub-P2", "ses-1", "M"],
    ]
    # the second visit is checked against the first: its T1w rigidly on the first's,
    # here the same scan (real scans of one person and of two: tests/test_visits.py)
    qc = pd.read_csv(out / "group" / "registration_qc.tsv", sep="\t").set_index("subject")
    later = qc.loc["P1_ses-2"]
    assert (later.first_visit, later.visit_modality) == ("P1_ses-1", "T1w")
    assert later.visit_brain_dice > 0.97 and later.visit_csf_dice > 0.9, later
    # the same scan: whichever fit counts, the head measures the same
    assert later.visit_fit in {"Rigid", "Similarity"}, later
    assert later.visit_scale == pytest.approx(1, abs=0.01), later
    assert qc.loc[["P1_ses-1", "P2_ses-1"], ["first_visit", "visit_csf_dice"]].isna().all(None)
    assert not qc.flagged.any(), qc["flags"]
    # the statistics take one visit per subject: the first session
    statistics = pd.read_csv(out / "group" / "samples.tsv", sep="\t", dtype=str)
    assert statistics.subject.tolist() == ["P1_ses-1", "P2_ses-1"]
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "wmhmap"
    assert description["SourceDatasets"] == [{"URL": root.as_uri(), "DOI": "10.1/x"}]
    assert "group/" in (out / ".bidsignore").read_text().split()
    # one lookup table at the root names every value of the region segmentations
    lookup = pd.read_csv(out / "desc-atlas_dseg.tsv", sep="\t")
    atlas = nib.load(next(out.glob("sub-P1/ses-1/anat/*_desc-atlas_dseg.nii.gz")))
    values = set(np.unique(np.asarray(atlas.dataobj)).tolist()) - {0}
    assert values <= set(lookup["index"]) and len(values) > 30
    # the FLAIR-only visit: the lesion model fuses by FLAIR, so the mask is the demo's
    flair_only = out / "sub-P2" / "ses-1" / "anat" / "sub-P2_ses-1_space-FLAIR_desc-wmh_mask.nii.gz"
    demo_mask = results / f"sub-{c}" / "anat" / f"sub-{c}_space-FLAIR_desc-wmh_mask.nii.gz"
    np.testing.assert_array_equal(
        np.asarray(nib.load(flair_only).dataobj), np.asarray(nib.load(demo_mask).dataobj)
    )


def test_a_bids_cohort_without_masks_or_split_runs_to_the_report(results, tmp_path):
    """The demo cohort as a user without annotations has it: BIDS FLAIR + T1w and
    diagnoses, no masks, no split. The lesion model is trained annotation-free (and the
    run says so), the region model is neither trained nor run (the loads use the atlas),
    and the workflow goes through to the report."""
    sheet = pd.read_csv(results / "demo" / "samplesheet.tsv", sep="\t", dtype=str)
    root = tmp_path / "bids"
    for s in sheet.subject:
        anat = root / f"sub-{s}" / "anat"
        anat.mkdir(parents=True)
        for modality in ("FLAIR", "T1w"):
            name = f"sub-{s}_{modality}.nii.gz"
            shutil.copyfile(results / "demo" / "rawdata" / f"sub-{s}" / "anat" / name, anat / name)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "demo cohort without masks", "BIDSVersion": "1.9.0"})
    )
    participants(
        root,
        [
            {"participant_id": f"sub-{r.subject}", "diagnosis": r.diagnosis, "age": r.age}
            for r in sheet.itertuples()
        ],
    )
    out = tmp_path / "results"
    cfg = extra_config(tmp_path, "bids.yaml", {"results": str(out), "input": {"bids": str(root)}})
    run = snakemake("--configfile", "config/tests.yaml", cfg, timeout=1700)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    assert "lesion model: trained annotation-free on the silver masks" in log
    assert "(flairhyst's masks, classic.silver)" in log  # the default silver
    assert "0 training subjects (split = train) have an expert lesion_mask" in log
    assert "region model: not used" in log

    models = out / "nnunet" / "models"
    assert [p.name for p in models.iterdir()] == ["Dataset512_WMHLesionSilver"]
    assert not list(out.glob("sub-*/anat/*_desc-regions_dseg.nii.gz"))
    masks = sorted(out.glob("sub-*/anat/*_desc-wmh_mask.nii.gz"))
    assert len(masks) == len(sheet)
    wide = pd.read_csv(out / "group" / "regional_loads_wide.tsv", sep="\t", dtype={"subject": str})
    assert sorted(wide.subject) == sorted(sheet.subject)
    auc = pd.read_csv(out / "group" / "stats" / "classification_auc.tsv", sep="\t")
    assert len(auc) > 0

    html = tmp_path / "report.html"
    report = snakemake("--configfile", "config/tests.yaml", cfg, "--report", str(html))
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    assert "regional_loads_wide.tsv" in html.read_text(errors="replace")
