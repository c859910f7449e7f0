# Input functions, wildcard constraints, the path builder and the final targets.
import sys
from pathlib import Path

import pandas as pd
from snakemake.exceptions import WorkflowError

# The rules' library lives beside this workflow; import it from here even when the
# Snakemake environment has no copy installed (e.g. conda-based runs).
sys.path.insert(0, str(Path(workflow.basedir)))

from wmhmap.demo.cohort import CohortDesign, demo_cohort
from wmhmap.errors import InputError
from wmhmap.paths import bids as _bids
from wmhmap.samplesheet import analysis_modality, load_samplesheet, modalities

RESULTS = config["results"].rstrip("/")
DEMO = not config["samplesheet"]
DEMO_ROOT = f"{RESULTS}/demo"
ATLAS_ROOT = f"{RESULTS}/atlas"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
MODALITY_COLUMN = {"FLAIR": "flair", "T1w": "t1"}


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    modality="FLAIR|T1w",


def bids(**entities):
    """Path of a subject-level result under the results folder (BIDS derivative names)."""
    return _bids(RESULTS, **entities)


def log_path(rule_name, **wildcards):
    """Log file of a rule; benchmarks mirror it under results/benchmarks."""
    parts = [f"{k}-{v}" for k, v in wildcards.items()]
    return f"{LOGS}/{rule_name}/{'_'.join(parts) or rule_name}.log"


def benchmark_path(rule_name, **wildcards):
    return log_path(rule_name, **wildcards).replace(LOGS, BENCHMARKS, 1).replace(".log", ".tsv")


# ---------------------------------------------------------------- the cohort


def demo_raw(subject, modality):
    return _bids(f"{DEMO_ROOT}/rawdata", subject=subject, suffix=modality)


def demo_truth(subject, suffix, **entities):
    return _bids(f"{DEMO_ROOT}/truth", subject=subject, suffix=suffix, **entities)


def demo_design():
    d = config["demo"]
    return CohortDesign(
        n_subjects=d["n_subjects"],
        n_train=min(d["n_train"], d["n_subjects"]),
        n_sites=d["n_sites"],
        seed=d["seed"],
    )


def demo_samples():
    cohort = demo_cohort(demo_design())
    cohort["flair"] = [demo_raw(s, "FLAIR") for s in cohort.subject]
    cohort["t1"] = [demo_raw(s, "T1w") for s in cohort.subject]
    cohort["lesion_mask"] = [
        demo_truth(s, "mask", label="WMH", desc="truth") for s in cohort.subject
    ]
    return cohort.set_index("subject", drop=False)


def subject_row(wildcards):
    return SAMPLES.loc[wildcards.subject].to_dict()


def load_samples():
    if DEMO:
        return demo_samples()
    try:
        return load_samplesheet(
            config["samplesheet"], allowed_root=config["dataset_root"] or None
        )
    except InputError as err:
        raise WorkflowError(f"Invalid sample sheet: {err}") from None


SAMPLES = load_samples()
SUBJECTS = SAMPLES.index.tolist()


def samplesheet_file():
    """The sample sheet with every column filled in (the demo's is written by a rule)."""
    return f"{DEMO_ROOT}/samplesheet.tsv" if DEMO else config["samplesheet"]


def subject_modalities(subject):
    return modalities(SAMPLES.loc[subject])


def reference_modality(subject):
    """FLAIR when present: the grid every map of the subject lies on."""
    return analysis_modality(SAMPLES.loc[subject])


def registration_modality(subject):
    """T1w when present: the image the atlas T1 is registered to."""
    return "T1w" if "T1w" in subject_modalities(subject) else "FLAIR"


# ---------------------------------------------------------------- input functions


def raw_image(wildcards):
    path = SAMPLES.loc[wildcards.subject, MODALITY_COLUMN[wildcards.modality]]
    if not path:
        raise WorkflowError(
            f"subject {wildcards.subject} has no {wildcards.modality} image in the sample sheet"
        )
    return path


def raw_inputs(wildcards):
    row = SAMPLES.loc[wildcards.subject]
    files = {m: row[MODALITY_COLUMN[m]] for m in subject_modalities(wildcards.subject)}
    if row["lesion_mask"]:
        files["lesion_mask"] = row["lesion_mask"]
    return files


def validation_report(wildcards):
    return bids(
        subject=wildcards.subject,
        datatype="qc",
        desc="inputs",
        suffix="validation",
        extension=".json",
    )


def n4_image(subject, modality):
    return bids(subject=subject, desc="n4", suffix=modality)


def t1w_to_flair_xfm(subject):
    return bids(
        subject=subject,
        datatype="xfm",
        suffix="xfm",
        extension=".mat",
        **{"from": "T1w", "to": "FLAIR", "mode": "image"},
    )


def propagation_inputs(wildcards):
    s = wildcards.subject
    files = {
        "native": n4_image(s, registration_modality(s)),
        "reference": n4_image(s, reference_modality(s)),
        **atlas_files(),
    }
    if len(subject_modalities(s)) == 2:
        files["t1w_to_flair"] = t1w_to_flair_xfm(s)
    return files


def normalization_inputs(wildcards):
    s, m = wildcards.subject, wildcards.modality
    files = {
        "image": n4_image(s, m),
        "reference": n4_image(s, reference_modality(s)),
        "brain": bids(subject=s, desc="brain", suffix="mask"),
    }
    if m != reference_modality(s):
        files["xfm"] = t1w_to_flair_xfm(s)
    return files


# ---------------------------------------------------------------- the atlas


def atlas_files():
    """The atlas in 34-region form: T1, region labels, brain mask, white matter."""
    source = config["atlas"]["source"]
    if source == "custom":
        a = config["atlas"]
        files = {k: a[k] for k in ("t1", "labels", "brain_mask", "white_matter")}
        missing = [k for k, v in files.items() if not v]
        if missing:
            raise WorkflowError(
                f"atlas.source is custom but atlas.{', atlas.'.join(missing)} is empty; "
                "set the paths in config/config.yaml"
            )
        return {f"atlas_{k}": v for k, v in files.items()}
    name = "demo" if source == "demo" else "JHU"
    root = f"{ATLAS_ROOT}/tpl-{name}"
    return {
        "atlas_t1": f"{root}/tpl-{name}_T1w.nii.gz",
        "atlas_labels": f"{root}/tpl-{name}_desc-regions_dseg.nii.gz",
        "atlas_brain_mask": f"{root}/tpl-{name}_desc-brain_mask.nii.gz",
        "atlas_white_matter": f"{root}/tpl-{name}_label-WM_mask.nii.gz",
    }


# ---------------------------------------------------------------- targets


def preprocessed_images():
    return [
        bids(subject=s, desc="preproc", suffix=m)
        for s in SUBJECTS
        for m in subject_modalities(s)
    ]


def final_targets():
    return [
        *preprocessed_images(),
        *[bids(subject=s, desc="atlas", suffix="dseg") for s in SUBJECTS],
        f"{RESULTS}/group/registration_qc.tsv",
    ]
