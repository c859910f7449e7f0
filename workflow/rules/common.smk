# Input functions, wildcard constraints, the path builder and the final targets.
import sys
from pathlib import Path

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

# The rules' library lives beside this workflow; import it from here even when the
# Snakemake environment has no copy installed (e.g. conda-based runs).
sys.path.insert(0, str(Path(workflow.basedir)))

from wmhmap.demo.cohort import CohortDesign, demo_cohort
from wmhmap.bidsdataset import BidsSelection, discover
from wmhmap.errors import InputError
from wmhmap.paths import bids as _bids
from wmhmap.paths import split_key
from wmhmap.paths import wildcards_key as visit
from wmhmap.samplesheet import (
    MODALITY_COLUMNS,
    analysis_modality,
    has_sessions,
    load_samplesheet,
    modalities,
    statistics_visits,
    validate_samplesheet,
)

RESULTS = config["results"].rstrip("/")
BIDS_ROOT = config["input"]["bids"]
DEMO = not (config["samplesheet"] or BIDS_ROOT)
DEMO_ROOT = f"{RESULTS}/demo"
ATLAS_ROOT = f"{RESULTS}/atlas"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    session="[A-Za-z0-9]+",
    modality="FLAIR|T1w",
    space="FLAIR|T1w",


# `space=GRID`: the subject's analysis grid (FLAIR when present, else T1w).
GRID = object()


def bids(subject, space=None, **entities):
    """Path of a subject-level result under the results folder (BIDS derivative names).

    ``subject`` is a visit id (``01`` or ``01_ses-2``) or the wildcard ``"{subject}"``,
    which brings ``{session}`` along in a dataset with sessions. ``space=GRID`` names
    the analysis grid (``space-FLAIR`` or ``space-T1w``; the wildcard ``{space}``).
    """
    space = grid_space(subject) if space is GRID else space
    if subject == "{subject}":
        session = "{session}" if SESSIONS else None
    else:
        subject, session = split_key(subject)
    return _bids(RESULTS, subject=subject, ses=session, space=space, **entities)


def grid_space(subject):
    """Space label of a visit's analysis grid (FLAIR or T1w), or the ``{space}`` wildcard."""
    return "{space}" if subject == "{subject}" else reference_modality(subject)


def log_path(rule_name, visits=True, **wildcards):
    """Log file of a rule; benchmarks mirror it under results/benchmarks.

    In a cohort with sessions a ``subject`` wildcard brings ``session`` along, except in
    the demo's own rules (``visits=False``), which simulate subjects, not visits.
    """
    if visits and SESSIONS and "subject" in wildcards:
        wildcards = {
            "subject": wildcards.pop("subject"),
            "session": "{session}",
            **wildcards,
        }
    parts = [f"{k}-{v}" for k, v in wildcards.items()]
    return f"{LOGS}/{rule_name}/{'_'.join(parts) or rule_name}.log"


def benchmark_path(rule_name, visits=True, **wildcards):
    return (
        log_path(rule_name, visits, **wildcards)
        .replace(LOGS, BENCHMARKS, 1)
        .replace(".log", ".tsv")
    )


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
    """The visit's sample-sheet row; ``subject`` is the visit id (as in every table)."""
    key = visit(wildcards)
    return {**SAMPLES.loc[key].to_dict(), "subject": key}


def load_samples():
    if DEMO:
        return demo_samples()
    if config["samplesheet"] and BIDS_ROOT:
        raise WorkflowError(
            "config sets both `samplesheet` and `input: bids`; keep one of them"
        )
    try:
        if BIDS_ROOT:
            found = discover(BIDS_ROOT, BidsSelection.from_config(config["input"]))
            return validate_samplesheet(
                found, file=Path(BIDS_ROOT) / "participants.tsv"
            )
        return load_samplesheet(
            config["samplesheet"], allowed_root=config["dataset_root"] or None
        )
    except InputError as err:
        kind = "BIDS dataset" if BIDS_ROOT else "sample sheet"
        raise WorkflowError(f"Invalid {kind}: {err}") from None


SAMPLES = load_samples()
SUBJECTS = SAMPLES.index.tolist()
SESSIONS = has_sessions(SAMPLES)
# One visit per subject for the cohort statistics (all rows without sessions).
STATS_VISITS = statistics_visits(SAMPLES, str(config["stats"]["session"]))
if not STATS_VISITS:
    raise WorkflowError(
        f"no subject has a session {config['stats']['session']!r} (stats.session); "
        f"sessions found: {', '.join(sorted(set(SAMPLES['session'])))}"
    )


def samplesheet_file():
    """The cohort table the statistics read (visit ids in `subject`): the demo's and a
    BIDS dataset's are written by a rule, a plain sheet is read as it is."""
    if DEMO:
        return f"{DEMO_ROOT}/samplesheet.tsv"
    if BIDS_ROOT or SESSIONS:
        return f"{RESULTS}/group/samples.tsv"
    return config["samplesheet"]


def per_subject(subjects=None, **entities):
    """One subject-level path per visit of the cohort (or of ``subjects``)."""
    return [
        bids(subject=s, **entities)
        for s in (SUBJECTS if subjects is None else subjects)
    ]


def valid_subjects(subjects=None):
    """Visits (of ``subjects``) whose inputs passed validation: what the cohort tables
    take. Known once every visit is checked (checkpoint collect_input_validation)."""
    table = checkpoints.collect_input_validation.get().output.table
    status = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    ok = set(status.loc[status.status == "ok", "subject"])
    return [s for s in (SUBJECTS if subjects is None else subjects) if s in ok]


def validated(subjects=None, **entities):
    """Input function: a path per validated visit (of ``subjects``), e.g. for cohort tables."""

    def paths(wildcards):
        return per_subject(subjects=valid_subjects(subjects), **entities)

    return paths


def valid_flair_subjects(wildcards):
    return valid_subjects(FLAIR_SUBJECTS)


FAILED_SUBJECTS = f"{RESULTS}/group/failed_subjects.tsv"


def on_grid(**entities):
    """Input function: a file of the job's visit on its analysis grid (``space=GRID``)."""

    def path(wildcards):
        return bids(subject=checked_visit(wildcards), space=GRID, **entities)

    return path


# Report labels of subject-level figures.
SUBJECT_LABEL = "{subject}_ses-{session}" if SESSIONS else "{subject}"


# Looked up once: input functions ask for every job (a row lookup in pandas is slow).
_MODALITIES = {s: modalities(row) for s, row in SAMPLES.iterrows()}
_REFERENCE_MODALITY = {s: analysis_modality(row) for s, row in SAMPLES.iterrows()}


def subject_modalities(subject):
    return _MODALITIES[subject]


FLAIR_SUBJECTS = [s for s in SUBJECTS if "FLAIR" in subject_modalities(s)]


def reference_modality(subject):
    """FLAIR when present: the grid every map of the subject lies on."""
    return _REFERENCE_MODALITY[subject]


def registration_modality(subject):
    """T1w when present: the image the atlas T1 is registered to."""
    return "T1w" if "T1w" in subject_modalities(subject) else "FLAIR"


def registration_modality_of(wildcards):
    return registration_modality(visit(wildcards))


# ---------------------------------------------------------------- input functions


def raw_image(wildcards):
    path = SAMPLES.loc[visit(wildcards), MODALITY_COLUMNS[wildcards.modality]]
    if not path:
        raise WorkflowError(
            f"subject {visit(wildcards)} has no {wildcards.modality} image in the sample sheet"
        )
    return path


def raw_inputs(wildcards):
    row = SAMPLES.loc[visit(wildcards)]
    files = {m: row[MODALITY_COLUMNS[m]] for m in subject_modalities(visit(wildcards))}
    for column in ("lesion_mask", "region_map"):
        if row.get(column):
            files[column] = row[column]
    return files


def validation_report(wildcards):
    return bids(
        subject=visit(wildcards),
        datatype="qc",
        desc="inputs",
        suffix="validation",
        extension=".json",
    )


def n4_image(subject, modality):
    return bids(subject=subject, desc="n4", suffix=modality)


def native_brain_mask(subject, modality, extension=".nii.gz"):
    """A scan's brain mask (deepbet) on its own grid; the reference modality's is the
    analysis grid's (:func:`brain_mask`)."""
    return bids(
        subject=subject,
        space=modality,
        desc="brain",
        suffix="mask",
        extension=extension,
    )


def t1w_to_flair_xfm(subject):
    return bids(
        subject=subject,
        datatype="xfm",
        suffix="xfm",
        extension=".mat",
        **{"from": "T1w", "to": "FLAIR", "mode": "image"},
    )


def checked_visit(wildcards):
    """The visit id of a job, after checking a ``{space}`` wildcard names its analysis grid."""
    s = visit(wildcards)
    space = wildcards.get("space")
    if space is not None and space != reference_modality(s):
        raise WorkflowError(
            f"sub-{s}'s analysis grid is {reference_modality(s)}, not {space}: "
            f"ask for space-{reference_modality(s)} files"
        )
    return s


def propagation_inputs(wildcards):
    s = checked_visit(wildcards)
    files = {
        "native": n4_image(s, registration_modality(s)),
        "native_brain": native_brain_mask(s, registration_modality(s)),
        "reference": n4_image(s, reference_modality(s)),
        "reference_brain": brain_mask(s),
        **atlas_files(),
    }
    if len(subject_modalities(s)) == 2:
        files["t1w_to_flair"] = t1w_to_flair_xfm(s)
    return files


def normalization_inputs(wildcards):
    s, m = checked_visit(wildcards), wildcards.modality
    files = {
        "image": n4_image(s, m),
        "reference": n4_image(s, reference_modality(s)),
        "brain": brain_mask(s),
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
    return {
        "atlas_t1": built_atlas_file("T1w"),
        "atlas_labels": built_atlas_file("desc-regions_dseg"),
        "atlas_brain_mask": built_atlas_file("desc-brain_mask"),
        "atlas_white_matter": built_atlas_file("label-WM_mask"),
    }


def built_atlas_file(suffix):
    """A file of the atlas the workflow builds (demo or JHU), e.g. ``label-WM_mask``."""
    name = "demo" if config["atlas"]["source"] == "demo" else "JHU"
    return f"{ATLAS_ROOT}/tpl-{name}/tpl-{name}_{suffix}.nii.gz"


def atlas_hippocampus():
    """The atlas hippocampus mask, or None (brain volumes then lack the hippocampus)."""
    if config["atlas"]["source"] == "custom":
        return config["atlas"]["hippocampus"] or None
    return built_atlas_file("label-hippocampus_mask")


def brain_volume_inputs(wildcards):
    s = checked_visit(wildcards)
    atlas = atlas_files()
    files = {
        "native": n4_image(s, registration_modality(s)),
        "native_brain": native_brain_mask(s, registration_modality(s)),
        "xfm": atlas_xfm(s),
        "atlas_t1": atlas["atlas_t1"],
    }
    if registration_modality(s) != reference_modality(s):
        files["t1w_to_flair"] = t1w_to_flair_xfm(s)
    if atlas_hippocampus():
        files["atlas_hippocampus"] = atlas_hippocampus()
    return files


def atlas_xfm(subject):
    """Atlas affine: analysis-grid world points to atlas points (``to-`` the grid's space)."""
    return bids(
        subject=subject,
        datatype="xfm",
        suffix="xfm",
        extension=".mat",
        **{"from": "atlas", "to": grid_space(subject), "mode": "image"},
    )


# ---------------------------------------------------------------- targets


def preprocessed(subject):
    """A visit's preprocessed images on its analysis grid: {modality: path}, FLAIR first."""
    return {
        m: bids(subject=subject, space=GRID, desc="preproc", suffix=m)
        for m in subject_modalities(subject)
    }


def atlas_labels(subject):
    return bids(subject=subject, space=GRID, desc="atlas", suffix="dseg")


def brain_mask(subject):
    """The brain mask on the analysis grid: deepbet's, of the reference modality's scan."""
    return native_brain_mask(subject, reference_modality(subject))


def preprocessed_images():
    return [path for s in SUBJECTS for path in preprocessed(s).values()]


def final_targets():
    return [
        f"{RESULTS}/dataset_description.json",
        samplesheet_file(),
        *preprocessed_images(),
        *(atlas_labels(s) for s in SUBJECTS),
        f"{RESULTS}/group/registration_qc.tsv",
        FAILED_SUBJECTS,
        *segmentation_outputs(),
        *exported_models(),
        # every subject's own tables, also those the cohort tables leave out (failed
        # validation): planned with the rest of the subject's jobs (SLURM groups)
        *per_subject(desc="regionalloads", suffix="stats", extension=".tsv"),
        *per_subject(desc="brainvolumes", suffix="stats", extension=".tsv"),
        *all_evaluation_tables(),
        f"{RESULTS}/group/regional_loads_wide.tsv",
        *evaluation_targets(),
        *stats_targets(),
    ]


# ---------------------------------------------------------------- statistics


STATS = f"{RESULTS}/group/stats"
FIGURES = f"{RESULTS}/group/figures"


def figure(name, caption, subcategory, labels=None):
    """A PNG figure of the report (its PDF twin is written beside it)."""
    return report(
        f"{FIGURES}/{name}.png",
        caption=f"../report/{caption}.rst",
        category="Cohort statistics",
        subcategory=subcategory,
        labels=labels or {"figure": name.replace("_", " ")},
    )


def figure_pdfs(*names):
    """The PDF twins of report figures, written by the same job (declared so that a
    failed job leaves no stale PDF behind)."""
    return [f"{FIGURES}/{name}.pdf" for name in names]


def classification_tasks():
    """Configured tasks whose two classes each have >= 2 subjects in the sample sheet.

    Subjects lacking a sample-sheet covariate the config asks for (age, sex) do not
    count: the classification leaves them out.
    """
    if "diagnosis" not in SAMPLES.columns:
        return []
    needed = ["diagnosis"] + [
        c for c in ("age", "sex") if c in config["stats"]["covariates"]
    ]
    complete = SAMPLES.loc[STATS_VISITS].reindex(columns=needed).dropna()
    counts = complete["diagnosis"].astype(str).str.upper().value_counts()
    feasible = []
    for task in config["stats"]["tasks"]:
        positive, negative = (c.strip() for c in task.split(" vs "))
        if counts.get(positive, 0) >= 2 and counts.get(negative, 0) >= 2:
            feasible.append(task)
    return feasible


def has_reference_volumes():
    if DEMO:
        return True
    column = SAMPLES.loc[STATS_VISITS].get("reference_wmh_ml")
    # blank cells are empty strings in the checked sample table
    return column is not None and (column.fillna("").astype(str) != "").sum() >= 3


def overlay_inputs(wildcards):
    s = checked_visit(wildcards)
    files = preprocessed(s)
    files["lesions"] = bids(subject=s, space=GRID, desc="wmh", suffix="mask")
    files["regions"] = loads_region_map(wildcards)
    return files


def figure_targets(wildcards):
    """The `figures` target: the statistics, and the overlays of the subjects that passed
    validation (so that a report can be built after a --keep-going run with failures).
    """
    return stats_targets(valid_subjects())


def stats_targets(subjects=None):
    """Tables and figures of the statistics stage this cohort supports."""
    figures, stats = FIGURES, STATS
    targets = [
        f"{RESULTS}/group/brain_volumes.tsv",
        *per_subject(
            subjects=subjects,
            datatype="figures",
            desc="lesionsregions",
            suffix="qc",
            extension=".png",
        ),
        *([f"{figures}/high_load_subjects.png"] if FLAIR_SUBJECTS else []),
        f"{stats}/cluster_groups.tsv",
        f"{figures}/cluster_silhouette.png",
        f"{figures}/cluster_lesion_frequency.png",
    ]
    if has_reference_volumes():
        targets += [
            f"{stats}/bland_altman.tsv",
            *(
                f"{figures}/{name}.png"
                for name in (
                    "bland_altman",
                    "bland_altman_log",
                    "predicted_vs_reference",
                    "loads_by_diagnosis",
                    "loads_by_site",
                )
            ),
        ]
    if classification_tasks():
        targets += [
            f"{stats}/classification_auc.tsv",
            f"{figures}/roc_curves.png",
            f"{figures}/regional_coefficients.png",
        ]
    return targets


# ---------------------------------------------------------------- classic masks


def load_classic_methods():
    from wmhmap.classic import methods_from_config

    defined = config["classic"]["methods"]
    unknown = [name for name in config["classic"]["use"] if name not in defined]
    if unknown:
        raise WorkflowError(
            f"classic.use names {unknown}, which classic.methods does not define "
            f"(defined: {sorted(defined)}): define them or remove them from classic.use"
        )
    try:
        return {
            m.name: m
            for m in methods_from_config(
                {name: defined[name] for name in config["classic"]["use"]}
            )
        }
    except InputError as err:
        raise WorkflowError(str(err)) from None


CLASSIC_METHODS = load_classic_methods()


wildcard_constraints:
    method="|".join(CLASSIC_METHODS) or "no-classic-methods",


def classic_methods(subject):
    """The classic methods a visit's scans allow (a T1w method needs a T1w)."""
    return [
        name
        for name, method in CLASSIC_METHODS.items()
        if method.modality in subject_modalities(subject)
    ]


def bronze_mask(subject, method):
    return bids(subject=subject, space=GRID, label="WMH", desc=method, suffix="mask")


def silver_mask(subject):
    return bids(subject=subject, space=GRID, label="WMH", desc="silver", suffix="mask")


def classic_image(wildcards):
    s = checked_visit(wildcards)
    modality = CLASSIC_METHODS[wildcards.method].modality
    if modality not in subject_modalities(s):
        raise WorkflowError(
            f"classic method {wildcards.method} needs a {modality} scan, which "
            f"sub-{s} lacks"
        )
    return preprocessed(s)[modality]


def classic_method_settings(wildcards):
    return dict(config["classic"]["methods"][wildcards.method])


def bronze_masks(wildcards):
    s = checked_visit(wildcards)
    return [bronze_mask(s, m) for m in classic_methods(s)]


def bronze_training_methods(subject):
    """The classic methods whose masks a visit gives the bronze training stage:
    models.lesion.stages.bronze.methods ([]: every method of classic.use)."""
    chosen = config["models"]["lesion"]["stages"]["bronze"].get("methods") or list(
        CLASSIC_METHODS
    )
    return [m for m in classic_methods(subject) if m in chosen]


def bronze_mask_names(wildcards):
    return classic_methods(checked_visit(wildcards))


def classic_evaluation_inputs(wildcards):
    """Bronze and silver masks scored beside the model (none without classic methods)."""
    s = checked_visit(wildcards)
    if not classic_methods(s):
        return []
    return [bronze_mask(s, m) for m in classic_methods(s)] + [silver_mask(s)]


def classic_evaluation_modes(wildcards):
    s = checked_visit(wildcards)
    if not classic_methods(s):
        return []
    return [f"classic-{m}" for m in classic_methods(s)] + ["silver"]


# ---------------------------------------------------------------- nnU-Net

NNUNET_ROOT = f"{RESULTS}/nnunet"
MODELS = ("lesion", "region")
DATASET_NAMES = {"lesion": "WMHLesion", "region": "WMHRegions"}


wildcard_constraints:
    model="lesion|region",
    fold="[0-9]+",


# Which masks each stage of the lesion model learns from, in training order (gold:
# expert masks of the training subjects; bronze: classic masks and silver: their STAPLE
# consensus, both of every subject). The region model has one stage, gold (atlas labels).
LESION_STAGES = {
    "gold": ("gold",),
    "staged": ("bronze", "silver", "gold"),
    "annotation_free": ("silver",),
}
STAGE_NAMES = {"gold": "", "bronze": "Bronze", "silver": "Silver"}


def plan_models():
    """Where the lesion model comes from and whether (and on what) the region model
    runs (wmhmap.planning); logged once by the main Snakemake process."""
    from wmhmap.planning import lesion_model_source, region_model_plan

    folds = config["nnunet"]["folds"]
    try:
        lesion = lesion_model_source(
            training_mode=config["models"]["lesion"]["training_mode"],
            pretrained=config["models"]["lesion"]["pretrained"],
            n_expert=len(expert_training_subjects()),
            folds=folds,
            classic_methods=list(CLASSIC_METHODS),
        )
    except InputError as err:
        raise WorkflowError(str(err)) from None
    region = region_model_plan(
        splits=SAMPLES["split"].to_dict(),
        with_reference=SUBJECTS if DEMO else [s for s in SUBJECTS if given_regions(s)],
        loads_regions=config["loads"]["regions"],
        pretrained=config["models"]["region"]["pretrained"],
        folds=folds,
    )
    if workflow.is_main_process:
        logger.info(lesion.reason)
        logger.info(region.reason)
    return lesion, region


def expert_training_subjects():
    """The split=train visits with an expert lesion mask (the lesion model's gold stage)."""
    return [
        s
        for s in SUBJECTS
        if SAMPLES.loc[s, "split"] == "train" and SAMPLES.loc[s, "lesion_mask"]
    ]


def given_regions(subject):
    """A visit's own region map (sample-sheet column region_map), or ''."""
    return SAMPLES.loc[subject, "region_map"] if "region_map" in SAMPLES else ""


LESION_SOURCE, REGION_PLAN = plan_models()
# The models this run segments with: the region model only when something uses it.
USED_MODELS = ("lesion", "region") if REGION_PLAN.used else ("lesion",)


def stages(model):
    """The training stages of a model, in order; the last one's folds segment."""
    if model != "lesion" or LESION_SOURCE.pretrained:
        return ("gold",)
    return LESION_STAGES[LESION_SOURCE.training_mode]


def nnunet_dataset(model, stage="gold"):
    from wmhmap.nnunet.env import dataset_name

    spec = config["models"][model]
    dataset_id = (
        spec["dataset_id"] if stage == "gold" else spec["stages"][stage]["dataset_id"]
    )
    return dataset_name(dataset_id, DATASET_NAMES[model] + STAGE_NAMES[stage])


def final_dataset(model):
    """The dataset whose folds segment the subjects (the last training stage's)."""
    return nnunet_dataset(model, stages(model)[-1])


def check_training_stages():
    ids = {
        nnunet_dataset(m, st): nnunet_dataset(m, st)[len("Dataset") :][:3]
        for m in USED_MODELS
        for st in stages(m)
    }
    if len(set(ids.values())) < len(ids):
        raise WorkflowError(
            f"the nnU-Net datasets {sorted(ids)} share a dataset id: give "
            "models.lesion.dataset_id, models.region.dataset_id and "
            "models.lesion.stages.*.dataset_id different values"
        )
    if {"bronze", "silver"} & set(stages("lesion")) and not CLASSIC_METHODS:
        raise WorkflowError(
            f"models.lesion.training_mode: {LESION_SOURCE.training_mode} "
            "learns from classic masks but classic.use is empty: name at least one "
            "method of classic.methods there, or use training_mode: gold"
        )
    bronze = config["models"]["lesion"]["stages"]["bronze"].get("methods") or []
    unknown = [m for m in bronze if m not in CLASSIC_METHODS]
    if unknown and "bronze" in stages("lesion"):
        raise WorkflowError(
            f"models.lesion.stages.bronze.methods names {unknown}, which classic.use "
            f"does not run (classic.use: {list(CLASSIC_METHODS)}): add them to "
            "classic.use, or name methods of it ([] for all)"
        )


def pretrained_model_folder(model):
    """Model folder a configured zip installs (read from the zip at parse time)."""
    from wmhmap.nnunet.sharing import model_folders_in_zip

    import zipfile

    zip_path = Path(config["models"][model]["pretrained"])
    try:
        folders = model_folders_in_zip(zip_path)
    except (OSError, InputError, zipfile.BadZipFile) as err:
        raise WorkflowError(f"models.{model}.pretrained: {err}") from None
    if len(folders) != 1:
        raise WorkflowError(
            f"models.{model}.pretrained ({zip_path}) holds {len(folders)} models; "
            "export one model (one configuration) per zip"
        )
    return f"{NNUNET_ROOT}/models/{folders[0]}"


def is_pretrained(model):
    return bool(config["models"][model]["pretrained"])


def nnunet_settings(model, stage="gold"):
    """The nnunet section with the model's (and a stage's) training settings applied."""
    from wmhmap.nnunet.training import stage_settings

    return stage_settings(config, model, stage)


def stage_model_folder(model, stage):
    """nnU-Net's folder of one training stage's model (all its folds)."""
    from wmhmap.nnunet.training import model_folder

    n = nnunet_settings(model, stage)
    folder = model_folder(
        Path(f"{NNUNET_ROOT}/models"),
        nnunet_dataset(model, stage),
        n["trainer"],
        n["plans"],
        n["configuration"],
    )
    return str(folder)


def trained_model_folder(model):
    if is_pretrained(model):
        return pretrained_model_folder(model)
    return stage_model_folder(model, stages(model)[-1])


def previous_stage(model, stage):
    order = stages(model)
    return order[order.index(stage) - 1] if order.index(stage) else None


def fold_ids(model):
    if is_pretrained(model):
        import zipfile

        with zipfile.ZipFile(config["models"][model]["pretrained"]) as zf:
            return sorted(
                {
                    int(part.removeprefix("fold_"))
                    for name in zf.namelist()
                    for part in Path(name).parts
                    if part.startswith("fold_") and part.removeprefix("fold_").isdigit()
                }
            )
    return list(range(config["nnunet"]["folds"]))


def training_subjects(model, stage="gold"):
    """Gold: split=train with a lesion mask (the lesion model), the region plan's
    subjects (the region model); bronze and silver learn from classic masks, which
    every visit has: all visits.

    Not filtered by input validation on purpose: a job that depends on the validation
    checkpoint reruns whenever it does (one subject added or re-checked), and that
    would retrain every model. A broken training scan stops the models: exclude it.
    """
    if stage != "gold":
        return list(SUBJECTS)
    if model == "region":
        return list(REGION_PLAN.training)
    return expert_training_subjects()


def reference_mask(subject):
    return bids(
        subject=subject, space=GRID, label="WMH", desc="reference", suffix="mask"
    )


def reference_regions(subject):
    """A visit's given region map on its analysis grid (rule prepare_reference_regions)."""
    return bids(subject=subject, space=GRID, desc="reference", suffix="dseg")


def training_inputs(wildcards):
    model, stage = dataset_stage(wildcards)
    subjects = training_subjects(model, stage)
    if len(subjects) < config["nnunet"]["folds"]:
        alternative = (
            ", set models.lesion.training_mode: annotation_free (no expert masks)"
            if model == "lesion" and stage == "gold"
            else ""
        )
        raise WorkflowError(
            f"the {model} model's {stage} stage needs at least nnunet.folds = "
            f"{config['nnunet']['folds']} training subjects ("
            + (
                f"split=train{' with a lesion_mask' if model == 'lesion' else ''}"
                if stage == "gold"
                else "visits"
            )
            + f"); found {len(subjects)}. Mark more subjects as train, lower "
            f"nnunet.folds{alternative}, or give a pretrained model in "
            f"models.{model}.pretrained"
        )
    table = training_subject_table(wildcards)
    return {
        "images": sorted({p for entry in table for p in entry["images"].values()}),
        "labels": [entry["label"] for entry in table],
    }


def training_subject_table(wildcards):
    """Training entries (subject, variant, {modality: image}, label): the script's view
    of training_inputs. A bronze stage has one entry per subject and classic method."""
    model, stage = dataset_stage(wildcards)
    table = []
    for s in training_subjects(model, stage):
        images = preprocessed(s)
        if stage == "bronze":
            labels = {m: bronze_mask(s, m) for m in bronze_training_methods(s)}
        elif stage == "silver":
            labels = {"": silver_mask(s)}
        elif model == "lesion":
            labels = {"": reference_mask(s)}
        else:
            labels = {"": reference_regions(s) if given_regions(s) else atlas_labels(s)}
        table += [
            {"subject": s, "variant": variant, "images": images, "label": label}
            for variant, label in labels.items()
        ]
    return table


def source_plans(wildcards):
    """A later training stage takes the first stage's plans (same network, so each
    fold can start from the previous stage's weights); a first stage plans itself."""
    model, stage = dataset_stage(wildcards)
    before = previous_stage(model, stage)
    if before is None:
        return []
    return [
        f"{NNUNET_ROOT}/preprocessed/{nnunet_dataset(model, before)}/"
        f"{config['nnunet']['plans']}.json"
    ]


def pretrained_fold(wildcards):
    """The previous stage's checkpoint of the same fold (staged training), if any."""
    model, stage = dataset_stage(wildcards)
    before = previous_stage(model, stage)
    if before is None:
        return []
    return [
        f"{stage_model_folder(model, before)}/fold_{wildcards.fold}/checkpoint_final.pth"
    ]


def subject_images(wildcards):
    return preprocessed(checked_visit(wildcards))


def gpu_resource():
    return 1 if config["nnunet"]["device"] == "cuda" else 0


def training_threads():
    from wmhmap.nnunet.env import training_threads as threads_for

    return threads_for(config["nnunet"]["device"])


def segmentation_outputs():
    descs = {"lesion": ("wmh", "mask"), "region": ("regions", "dseg")}
    return [
        bids(subject=s, space=GRID, desc=descs[m][0], suffix=descs[m][1])
        for s in SUBJECTS
        for m in USED_MODELS
    ]


def segmentation_files():
    """segment_subject's outputs: the region model's only when it runs."""
    files = {
        "lesion_modalities": dict(label="WMH", desc="modalities", suffix="probseg"),
        "lesion_folds": dict(label="WMH", desc="folds", suffix="probseg"),
        "probability": dict(label="WMH", suffix="probseg"),
        "mask": dict(desc="wmh", suffix="mask"),
        "lesion_sidecar": dict(desc="wmh", suffix="mask", extension=".json"),
    }
    if REGION_PLAN.used:
        files |= {
            "region_modalities": dict(desc="regionsmodalities", suffix="dseg"),
            "labels": dict(desc="regions", suffix="dseg"),
            "region_sidecar": dict(desc="regions", suffix="dseg", extension=".json"),
        }
    return {
        name: bids(subject="{subject}", space=GRID, **entities)
        for name, entities in files.items()
    }


def exported_models():
    return [
        f"{NNUNET_ROOT}/export/{final_dataset(m)}.zip"
        for m in USED_MODELS
        if not is_pretrained(m)
    ]


wildcard_constraints:
    dataset="Dataset[0-9]{3}_[A-Za-z0-9]+",
    trained="[A-Za-z0-9_]+__[A-Za-z0-9_]+__[a-z0-9_]+",


def dataset_stage(wildcards):
    """(model, training stage) of a ``{dataset}`` wildcard."""
    for m in USED_MODELS:
        for st in stages(m):
            if nnunet_dataset(m, st) == wildcards.dataset:
                return m, st
    raise WorkflowError(
        f"{wildcards.dataset} is not one of this configuration's nnU-Net datasets"
    )


def model_of_dataset(wildcards):
    return dataset_stage(wildcards)[0]


def stage_of_dataset(wildcards):
    return dataset_stage(wildcards)[1]


def input_mode_of_dataset(wildcards):
    return config["models"][model_of_dataset(wildcards)]["input_mode"]


def expert_mask(wildcards):
    path = SAMPLES.loc[checked_visit(wildcards), "lesion_mask"]
    if not path:
        raise WorkflowError(
            f"subject {visit(wildcards)} has no lesion_mask in the sample sheet"
        )
    return path


def analysis_grid_image(wildcards):
    s = checked_visit(wildcards)
    return n4_image(s, reference_modality(s))


def pretrained_zip(wildcards):
    return config["models"][wildcards.model]["pretrained"]


def pretrained_sha256(wildcards):
    return config["models"][wildcards.model]["sha256"]


def recipe_of_dataset(step):
    """Params function: the settings a ``step`` ("plan", "train") of the dataset's
    model depends on (wmhmap.nnunet.training.RECIPE_KEYS)."""
    from wmhmap.nnunet.training import recipe

    def settings(wildcards):
        return recipe(nnunet_settings(*dataset_stage(wildcards)), step)

    return settings


def fold_checkpoints(folder, folds):
    """The final checkpoint of each fold of a model folder."""
    return [f"{folder}/fold_{k}/checkpoint_final.pth" for k in folds]


def trained_checkpoints(wildcards):
    folder = stage_model_folder(*dataset_stage(wildcards))
    return fold_checkpoints(folder, range(config["nnunet"]["folds"]))


check_training_stages()


def final_checkpoints(wildcards):
    """The fold checkpoints of a model's last training stage (the ones that segment)."""
    return fold_checkpoints(
        trained_model_folder(wildcards.model), fold_ids(wildcards.model)
    )


def model_files(model):
    """What a segmentation job needs of a model: one small record of it (an installed
    zip's checksum, or the manifest of the trained folds), not every fold: a cohort's
    thousands of segmentation jobs then hang on one file, which keeps Snakemake's DAG
    checks short."""
    if is_pretrained(model):
        return [f"{NNUNET_ROOT}/installed/{model}.sha256"]
    return [f"{NNUNET_ROOT}/trained/{model}.json"]


def segmentation_inputs(wildcards):
    """A subject's images, each model's record and, when lesions are kept inside the
    brain, its brain mask."""
    files = {
        "images": list(preprocessed(checked_visit(wildcards)).values()),
        **{f"{m}_model": model_files(m) for m in USED_MODELS},
    }
    if config["models"]["lesion"]["brain_margin_mm"] is not None:
        files["brain"] = brain_mask(checked_visit(wildcards))
    return files


def segmentation_settings():
    """What segment_subject needs of each model it runs: its nnU-Net settings, its
    config entry (fusion, brain margin) and the folder of the folds that segment."""
    return {
        model: {
            "nnunet": nnunet_settings(model),
            "config": config["models"][model],
            "folder": trained_model_folder(model),
        }
        for model in USED_MODELS
    }


# ---------------------------------------------------------------- loads and evaluation


def loads_region_map(wildcards):
    """The region map the loads use: the nnU-Net region model's, or the atlas's."""
    desc = "regions" if config["loads"]["regions"] == "model" else "atlas"
    return bids(subject=checked_visit(wildcards), space=GRID, desc=desc, suffix="dseg")


def evaluated_subjects():
    """Held-out subjects with a reference mask (training subjects would flatter the model)."""
    return valid_subjects(reference_subjects())


def reference_subjects():
    """Held-out visits with a reference mask, valid or not."""
    return [
        s
        for s in SUBJECTS
        if SAMPLES.loc[s, "lesion_mask"] and SAMPLES.loc[s, "split"] != "train"
    ]


def reference_region_map(wildcards):
    """The region map the region model is scored against: the demo's truth, or the
    visit's own region_map (scripts bring it onto the grid)."""
    if DEMO:
        return demo_truth(visit(wildcards), "dseg", desc="truth")
    path = given_regions(checked_visit(wildcards))
    if not path:
        raise WorkflowError(f"subject {visit(wildcards)} has no region_map")
    return path


def evaluation_tables(kind, subjects):
    return per_subject(
        subjects=subjects,
        datatype="qc",
        desc=f"{kind}evaluation",
        suffix="stats",
        extension=".tsv",
    )


def evaluated_wmh_tables(wildcards):
    return evaluation_tables("wmh", evaluated_subjects())


def evaluated_region_tables(wildcards):
    return evaluation_tables("region", valid_subjects(REGION_PLAN.evaluated))


def all_evaluation_tables():
    """Every held-out visit's evaluation tables, also those the summary leaves out."""
    return evaluation_tables("wmh", reference_subjects()) + evaluation_tables(
        "region", REGION_PLAN.evaluated
    )


def evaluation_targets():
    if not (reference_subjects() or REGION_PLAN.evaluated):
        return []
    return [f"{RESULTS}/group/evaluation/wmh_metrics_summary.tsv"]
