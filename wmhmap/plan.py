"""The workflow's plan: every path, lookup and choice the Snakemake rules make.

A :class:`Plan` is built from the config and the cohort (sample sheet, BIDS dataset or
the embedded demo) and answers, with pure functions, what the rules ask: where a
visit's files lie, which grid and modalities it has, which classic methods and training
stages run, which nnU-Net datasets, folds and checkpoints exist, what each job reads
and what the final targets are. The ``.smk`` files only turn job wildcards into visit
ids and hand the answers to Snakemake, so the planning is unit-tested without it
(``tests/test_plan.py``).

Problems of the config or the cohort raise :class:`~wmhmap.errors.PlanError` with the
fix in the message; the workflow shows it as Snakemake's own error.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from wmhmap.classic import ClassicMethod, methods_from_config
from wmhmap.errors import InputError, PlanError
from wmhmap.modelsources import (
    LesionModelSource,
    RegionModelPlan,
    lesion_model_source,
    region_model_plan,
)
from wmhmap.paths import derivative_path, split_key
from wmhmap.samplesheet import (
    MODALITY_COLUMNS,
    PATH_COLUMNS,
    analysis_modality,
    has_sessions,
    modalities,
    statistics_visits,
)
from wmhmap.zones import ZONE_SCHEMES


class Grid:
    """``space=GRID``: a visit's analysis grid (FLAIR when present, else T1w)."""

    def __repr__(self) -> str:
        return "GRID"


GRID = Grid()

WILDCARD = "{subject}"
MODELS = ("lesion", "region")
DATASET_NAMES = {"lesion": "WMHLesion", "region": "WMHRegions"}
# Which masks each stage of the lesion model learns from, in training order (gold:
# expert masks of the training subjects; bronze: classic masks and silver: their STAPLE
# consensus, both of every subject). The region model has one stage, gold.
LESION_STAGES = {
    "gold": ("gold",),
    "staged": ("bronze", "silver", "gold"),
    "annotation_free": ("silver",),
}
STAGE_NAMES = {"gold": "", "bronze": "Bronze", "silver": "Silver"}
SEGMENTATION_OUTPUTS = {"lesion": ("wmh", "mask"), "region": ("regions", "dseg")}
# What segment_subject depends on of each model, beside its weights (the record of the
# folds): how nnU-Net runs and how the output is fused and kept.
INFERENCE_KEYS = ("device", "tta", "tile_step_size")
OUTPUT_KEYS = ("fusion", "brain_margin_mm")
# What a demo subject's simulation depends on (not the split: demo.n_train only
# changes which subjects train).
SIMULATION_COLUMNS = ("subject", "diagnosis", "site", "age", "seed")
SIMULATION_KEYS = (
    "t1_voxel_mm",
    "flair_voxel_mm",
    "n_sites",
    "deformation_mm",
    "lesions",
    "scanners",
)
# What the classification and the clustering depend on of the stats section.
CLASSIFICATION_KEYS = (
    "tasks",
    "feature_sets",
    "covariates",
    "cv_splits",
    "cv_repeats",
    "bootstrap",
    "seed",
)
CLUSTERING_KEYS = ("cluster_k", "cluster_ks", "seed")
VALIDATION_FIGURES = (
    "bland_altman",
    "bland_altman_log",
    "predicted_vs_reference",
    "loads_by_diagnosis",
    "loads_by_site",
)


@dataclass(frozen=True)
class TrainingEntry:
    """One training case of an nnU-Net dataset: a visit, its images and one label."""

    subject: str
    variant: str
    images: dict[str, str]
    label: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "variant": self.variant,
            "images": self.images,
            "label": self.label,
        }


class Plan:
    """Every path and choice of one run, from its config and cohort.

    ``samples`` is the checked cohort table indexed by visit id (a sample sheet's,
    a BIDS dataset's or :func:`demo_samples`'s); ``demo`` says it is the embedded demo.
    ``config`` is the validated config (schema defaults filled in).
    """

    def __init__(self, config: Mapping[str, Any], samples: pd.DataFrame, *, demo: bool):
        self.config = config
        self.samples = samples
        self.demo = demo
        self.results = str(config["results"]).rstrip("/")
        self.bids_root = str(config["input"]["bids"] or "")
        self.demo_root = demo_root(config)
        self.atlas_root = f"{self.results}/atlas"
        self.logs = f"{self.results}/logs"
        self.benchmarks = f"{self.results}/benchmarks"
        self.nnunet_root = f"{self.results}/nnunet"
        self.stats_root = f"{self.results}/group/stats"
        self.figures_root = f"{self.results}/group/figures"
        self.failed_subjects = f"{self.results}/group/failed_subjects.tsv"

        self.subjects: list[str] = samples.index.tolist()
        self.sessions = has_sessions(samples)
        # one visit per subject for the cohort statistics (all rows without sessions)
        session = str(config["stats"]["session"])
        self.stats_visits = statistics_visits(samples, session)
        if not self.stats_visits:
            raise PlanError(
                f"no subject has a session {session!r} (stats.session); sessions found: "
                f"{', '.join(sorted(set(samples['session'])))}"
            )
        # looked up once: input functions ask for every job (pandas row lookups are slow)
        rows = {str(s): {str(k): v for k, v in row.items()} for s, row in samples.iterrows()}
        self._modalities = {s: modalities(row) for s, row in rows.items()}
        self._grid = {s: analysis_modality(row) for s, row in rows.items()}
        self.flair_subjects = [s for s in self.subjects if "FLAIR" in self._modalities[s]]
        # with sessions: each later visit -> its subject's first (registration QC)
        self.first_visits = first_visits(samples) if self.sessions else {}
        self.classic = self._classic_methods()
        self.lesion_source, self.region_plan = self._plan_models()
        # the models this run segments with: the region model only when something uses it
        self.used_models = ("lesion", "region") if self.region_plan.used else ("lesion",)
        self._check_training_stages()

    # ------------------------------------------------------------ construction

    @classmethod
    def for_demo(cls, config: Mapping[str, Any]) -> Plan:
        """The plan of the embedded demo cohort (no sample sheet, no BIDS dataset)."""
        return cls(config, demo_samples(config), demo=True)

    # ------------------------------------------------------------ paths

    def bids(self, subject: str, space: str | Grid | None = None, **entities: str | None) -> str:
        """Path of a subject-level result under the results folder (BIDS derivative names).

        ``subject`` is a visit id (``01`` or ``01_ses-2``) or the wildcard ``"{subject}"``,
        which brings ``{session}`` along in a dataset with sessions. ``space=GRID`` names
        the analysis grid (``space-FLAIR`` or ``space-T1w``; the wildcard ``{space}``).
        """
        if isinstance(space, Grid):
            space = self.grid_space(subject)
        if subject == WILDCARD:
            session = "{session}" if self.sessions else None
        else:
            subject, session = split_key(subject)
        return derivative_path(
            self.results,
            subject=subject,
            ses=session,
            space=space,
            **entities,  # type: ignore[arg-type]
        )

    def grid_space(self, subject: str) -> str:
        """Space label of a visit's analysis grid (FLAIR or T1w), or the ``{space}`` wildcard."""
        return "{space}" if subject == WILDCARD else self.reference_modality(subject)

    def log_path(self, rule: str, visits: bool = True, **wildcards: str) -> str:
        """Log file of a rule (``results/logs/<rule>/<wildcards>.log``).

        In a cohort with sessions a ``subject`` wildcard brings ``session`` along, except
        in the demo's own rules (``visits=False``), which simulate subjects, not visits.
        """
        if visits and self.sessions and "subject" in wildcards:
            wildcards = {
                "subject": wildcards.pop("subject"),
                "session": "{session}",
                **wildcards,
            }
        parts = [f"{k}-{v}" for k, v in wildcards.items()]
        return f"{self.logs}/{rule}/{'_'.join(parts) or rule}.log"

    def benchmark_path(self, rule: str, visits: bool = True, **wildcards: str) -> str:
        """Benchmark table of a rule: its log's path under ``results/benchmarks``."""
        log = self.log_path(rule, visits, **wildcards)
        return log.replace(self.logs, self.benchmarks, 1).replace(".log", ".tsv")

    def per_subject(self, subjects: Iterable[str] | None = None, **entities: Any) -> list[str]:
        """One subject-level path per visit of the cohort (or of ``subjects``)."""
        chosen = self.subjects if subjects is None else subjects
        return [self.bids(subject=s, **entities) for s in chosen]

    def demo_raw(self, subject: str, modality: str) -> str:
        return demo_raw(self.demo_root, subject, modality)

    def demo_truth(self, subject: str, suffix: str, **entities: str) -> str:
        return demo_truth(self.demo_root, subject, suffix, **entities)

    def samplesheet_file(self) -> str:
        """The cohort table the statistics read (visit ids in ``subject``): the demo's and
        a BIDS dataset's are written by a rule, a plain sheet is read as it is."""
        if self.demo:
            return f"{self.demo_root}/samplesheet.tsv"
        if self.bids_root or self.sessions:
            return f"{self.results}/group/samples.tsv"
        return str(self.config["samplesheet"])

    # ------------------------------------------------------------ visits

    def modalities(self, subject: str) -> list[str]:
        return self._modalities[subject]

    def reference_modality(self, subject: str) -> str:
        """FLAIR when present: the grid every map of the visit lies on."""
        return self._grid[subject]

    def registration_modality(self, subject: str) -> str:
        """T1w when present: the image the atlas T1 is registered to."""
        return "T1w" if "T1w" in self.modalities(subject) else "FLAIR"

    def check_space(self, subject: str, space: str | None) -> str:
        """The visit, after checking a ``{space}`` wildcard names its analysis grid."""
        grid = self.reference_modality(subject)
        if space is not None and space != grid:
            raise PlanError(
                f"sub-{subject}'s analysis grid is {grid}, not {space}: ask for space-{grid} files"
            )
        return subject

    def column(self, subject: str, name: str) -> str:
        """A visit's sample-sheet value ('' when the column is absent or blank)."""
        if name not in self.samples.columns:
            return ""
        value = self.samples.loc[subject, name]
        return "" if pd.isna(value) else str(value)

    def visit_info(self, subject: str, columns: Sequence[str]) -> dict[str, Any]:
        """The visit's values of ``columns`` as the table holds them (``subject``: the
        visit id; '' for a missing column)."""
        row = self.samples.loc[subject]
        return {c: subject if c == "subject" else row.get(c, "") for c in columns}

    def input_files(self, subject: str) -> dict[str, Any]:
        """What input validation checks: the visit id and its input paths."""
        return self.visit_info(subject, ("subject", *PATH_COLUMNS))

    def raw_image(self, subject: str, modality: str) -> str:
        path = self.column(subject, MODALITY_COLUMNS[modality])
        if not path:
            raise PlanError(f"subject {subject} has no {modality} image in the sample sheet")
        return path

    def raw_inputs(self, subject: str) -> dict[str, str]:
        """Every input file of a visit, by role (modality, lesion_mask, region_map)."""
        files = {m: self.raw_image(subject, m) for m in self.modalities(subject)}
        for column in ("lesion_mask", "region_map"):
            if self.column(subject, column):
                files[column] = self.column(subject, column)
        return files

    def given_regions(self, subject: str) -> str:
        """A visit's own region map (sample-sheet column region_map), or ''."""
        return self.column(subject, "region_map")

    def expert_mask(self, subject: str) -> str:
        path = self.column(subject, "lesion_mask")
        if not path:
            raise PlanError(f"subject {subject} has no lesion_mask in the sample sheet")
        return path

    # ------------------------------------------------------------ preprocessing and atlas

    def validation_report(self, subject: str) -> str:
        return self.bids(
            subject, datatype="qc", desc="inputs", suffix="validation", extension=".json"
        )

    def n4_image(self, subject: str, modality: str) -> str:
        return self.bids(subject, desc="n4", suffix=modality)

    def native_brain_mask(self, subject: str, modality: str, extension: str = ".nii.gz") -> str:
        """A scan's brain mask (deepbet) on its own grid; the reference modality's is the
        analysis grid's (:meth:`brain_mask`)."""
        return self.bids(subject, space=modality, desc="brain", suffix="mask", extension=extension)

    def brain_mask(self, subject: str) -> str:
        """The brain mask on the analysis grid: the reference modality's scan's."""
        return self.native_brain_mask(subject, self.reference_modality(subject))

    def t1w_to_flair_xfm(self, subject: str) -> str:
        return self.bids(
            subject,
            datatype="xfm",
            suffix="xfm",
            extension=".mat",
            **{"from": "T1w", "to": "FLAIR", "mode": "image"},
        )

    def atlas_xfm(self, subject: str) -> str:
        """Atlas affine: analysis-grid world points to atlas points (``to-`` the grid)."""
        return self.bids(
            subject,
            datatype="xfm",
            suffix="xfm",
            extension=".mat",
            **{"from": "atlas", "to": self.grid_space(subject), "mode": "image"},
        )

    def preprocessed(self, subject: str) -> dict[str, str]:
        """A visit's preprocessed images on its grid: {modality: path}, FLAIR first."""
        return {
            m: self.bids(subject, space=GRID, desc="preproc", suffix=m)
            for m in self.modalities(subject)
        }

    def atlas_labels(self, subject: str) -> str:
        return self.bids(subject, space=GRID, desc="atlas", suffix="dseg")

    def visit_pair(self, subject: str) -> tuple[str, str] | None:
        """(first visit, modality) a later visit is checked against: the T1w when both
        visits have one, else the FLAIR; None for a first visit (or a cohort without
        sessions) and for visits that share no modality (:mod:`wmhmap.visits`)."""
        first = self.first_visits.get(subject)
        if first is None:
            return None
        shared = [m for m in ("T1w", "FLAIR") if m in self.modalities(subject)]
        shared = [m for m in shared if m in self.modalities(first)]
        return (first, shared[0]) if shared else None

    def visit_check(self, subject: str) -> str:
        """A later visit's comparison with its first visit (a row of registration QC)."""
        return self.bids(
            subject,
            datatype="qc",
            desc="firstvisit",
            suffix="registration",
            extension=".tsv",
        )

    def visit_check_inputs(self, subject: str) -> dict[str, str]:
        """The bias-corrected scans and brain masks a visit's comparison reads."""
        pair = self.visit_pair(subject)
        if pair is None:
            raise PlanError(f"sub-{subject} is no later visit with a modality of its first")
        first, modality = pair
        return {
            "first": self.n4_image(first, modality),
            "first_brain": self.native_brain_mask(first, modality),
            "later": self.n4_image(subject, modality),
            "later_brain": self.native_brain_mask(subject, modality),
        }

    def visit_checks(self, valid: Iterable[str]) -> list[str]:
        """The comparisons of the ``valid`` visits (those that passed the input checks)
        whose first visit is valid too."""
        ok = set(valid)
        return [
            self.visit_check(s)
            for s in self.subjects
            if s in ok and (pair := self.visit_pair(s)) is not None and pair[0] in ok
        ]

    def registration_qc(self, subject: str) -> str:
        """The atlas propagation's QC row (its measures and the T1w's tissue volumes)."""
        return self.bids(
            subject,
            datatype="qc",
            space=GRID,
            desc="atlas",
            suffix="registration",
            extension=".tsv",
        )

    def normalization_inputs(self, subject: str, modality: str) -> dict[str, str]:
        files = {
            "image": self.n4_image(subject, modality),
            "reference": self.n4_image(subject, self.reference_modality(subject)),
            "brain": self.brain_mask(subject),
        }
        if modality != self.reference_modality(subject):
            files["xfm"] = self.t1w_to_flair_xfm(subject)
        return files

    def built_atlas_file(self, suffix: str) -> str:
        """A file of the atlas the workflow builds (demo or JHU), e.g. ``label-WM_mask``."""
        name = "demo" if self.config["atlas"]["source"] == "demo" else "JHU"
        return f"{self.atlas_root}/tpl-{name}/tpl-{name}_{suffix}.nii.gz"

    def atlas_files(self) -> dict[str, str]:
        """The atlas in 34-region form: T1, region labels, brain mask, white matter."""
        atlas = self.config["atlas"]
        if atlas["source"] == "custom":
            files = {k: atlas[k] for k in ("t1", "labels", "brain_mask", "white_matter")}
            missing = [k for k, v in files.items() if not v]
            if missing:
                raise PlanError(
                    f"atlas.source is custom but atlas.{', atlas.'.join(missing)} is "
                    "empty; set the paths in config/config.yaml"
                )
            return {f"atlas_{k}": v for k, v in files.items()}
        return {
            "atlas_t1": self.built_atlas_file("T1w"),
            "atlas_labels": self.built_atlas_file("desc-regions_dseg"),
            "atlas_brain_mask": self.built_atlas_file("desc-brain_mask"),
            "atlas_white_matter": self.built_atlas_file("label-WM_mask"),
        }

    def atlas_hippocampus(self) -> str | None:
        """The atlas hippocampus mask, or None (brain volumes then lack the hippocampus)."""
        if self.config["atlas"]["source"] == "custom":
            return self.config["atlas"]["hippocampus"] or None
        return self.built_atlas_file("label-hippocampus_mask")

    def atlas_template_name(self) -> str:
        """The atlas's template label for file names (``tpl-demo``, ``tpl-JHU``, ``tpl-custom``)."""
        return {"demo": "tpl-demo", "jhu": "tpl-JHU"}.get(
            self.config["atlas"]["source"], "tpl-custom"
        )

    def atlas_zone_prior(self) -> str | None:
        """The atlas's zone prior (ventricles, deep grey matter, infratentorial), or None."""
        if self.config["atlas"]["source"] == "custom":
            return self.config["atlas"]["zones"] or None
        return self.built_atlas_file("desc-zones_dseg")

    @property
    def zone_schemes(self) -> list[str]:
        """The zone schemes the run computes (``zones.schemes``), checked against the atlas."""
        schemes = list(self.config["zones"]["schemes"])
        if schemes and self.atlas_zone_prior() is None:
            raise PlanError(
                f"zones.schemes asks for {', '.join(schemes)}, which need the atlas's zone "
                "prior: set atlas.zones (ventricles 1, deep grey matter 2, infratentorial 3) "
                "or zones.schemes: []"
            )
        return schemes

    def zone_map(self, subject: str, scheme: str) -> str:
        """A visit's zone map of one scheme on its grid (``desc-pvdeep_dseg`` ...)."""
        return self.bids(subject, space=GRID, desc=scheme, suffix="dseg")

    def zone_inputs(self, subject: str) -> dict[str, str]:
        """What a visit's zone maps are made from: its white matter, parcels, brain, the
        atlas prior carried by the atlas transform, and the T1w when there is one."""
        files = {
            "regions": self.atlas_labels(subject),
            "white_matter": self.bids(subject, space=GRID, label="WM", desc="atlas", suffix="mask"),
            "parcels": self.bids(subject, space=GRID, desc="parcels", suffix="dseg"),
            "brain": self.brain_mask(subject),
            "reference": self.preprocessed(subject)[self.reference_modality(subject)],
            "xfm": self.atlas_xfm(subject),
            "prior": str(self.atlas_zone_prior()),
            "table": self.config["atlas"]["region_table"],
        }
        if "T1w" in self.modalities(subject):
            files["t1w"] = self.preprocessed(subject)["T1w"]
        return files

    def zone_wide(self, scheme: str) -> str:
        """The cohort wide table of one zone scheme."""
        return f"{self.results}/group/regional_loads_wide_{scheme}.tsv"

    def zone_feature_inputs(self) -> dict[str, str]:
        """The zone wide tables the classification's feature sets use, by scheme."""
        sets = self.config["stats"]["feature_sets"]
        missing = [s for s in ZONE_SCHEMES if s in sets and s not in self.zone_schemes]
        if missing:
            raise PlanError(
                f"stats.feature_sets names {', '.join(missing)}, which zones.schemes does not "
                "compute: add it to zones.schemes or drop it from stats.feature_sets"
            )
        return {s: self.zone_wide(s) for s in ZONE_SCHEMES if s in sets}

    def zone_loads_inputs(self, subject: str) -> dict[str, str]:
        """The zone maps the loads count lesions in (none without zone schemes)."""
        return {scheme: self.zone_map(subject, scheme) for scheme in self.zone_schemes}

    def propagation_inputs(self, subject: str) -> dict[str, str]:
        native = self.registration_modality(subject)
        files = {
            "native": self.n4_image(subject, native),
            "native_brain": self.native_brain_mask(subject, native),
            "reference": self.n4_image(subject, self.reference_modality(subject)),
            "reference_brain": self.brain_mask(subject),
            **self.atlas_files(),
        }
        if len(self.modalities(subject)) == 2:
            files["t1w_to_flair"] = self.t1w_to_flair_xfm(subject)
        return files

    def brain_volume_inputs(self, subject: str) -> dict[str, str]:
        native = self.registration_modality(subject)
        files = {
            "native": self.n4_image(subject, native),
            "native_brain": self.native_brain_mask(subject, native),
            "xfm": self.atlas_xfm(subject),
            "registration_qc": self.registration_qc(subject),  # its tissue classes
            "atlas_t1": self.atlas_files()["atlas_t1"],
        }
        if native != self.reference_modality(subject):
            files["t1w_to_flair"] = self.t1w_to_flair_xfm(subject)
        hippocampus = self.atlas_hippocampus()
        if hippocampus:
            files["atlas_hippocampus"] = hippocampus
        if native == "T1w" and self.config["stats"]["fill_lesions"]:
            # the WMH mask the loads use, filled on the T1w (the atlas's deep white
            # matter starts the filled T1w's classes)
            files["lesions"] = self.bids(subject, space=GRID, desc="wmh", suffix="mask")
            files["atlas_white_matter"] = self.atlas_files()["atlas_white_matter"]
        return files

    # ------------------------------------------------------------ classic masks

    def _classic_methods(self) -> dict[str, ClassicMethod]:
        classic = self.config["classic"]
        defined = classic["methods"]
        unknown = [name for name in classic["use"] if name not in defined]
        if unknown:
            raise PlanError(
                f"classic.use names {unknown}, which classic.methods does not define "
                f"(defined: {sorted(defined)}): define them or remove them from classic.use"
            )
        try:
            chosen = methods_from_config({name: defined[name] for name in classic["use"]})
        except InputError as err:
            raise PlanError(str(err)) from None
        unknown = [name for name in classic.get("silver", []) if name not in defined]
        if unknown:
            raise PlanError(
                f"classic.silver names {unknown}, which classic.methods does not define "
                f"(defined: {sorted(defined)}): name methods of classic.use ([] for all)"
            )
        return {m.name: m for m in chosen}

    @property
    def silver(self) -> list[str]:
        """The methods of classic.use named in classic.silver; all of them when it names
        none they run ([] or only methods left out of classic.use)."""
        named = self.config["classic"].get("silver") or []
        return [m for m in self.classic if m in named] or list(self.classic)

    def classic_methods(self, subject: str) -> list[str]:
        """The classic methods a visit's scans allow (a T1w method needs a T1w)."""
        return [
            name
            for name, method in self.classic.items()
            if method.modality in self.modalities(subject)
        ]

    def classic_image(self, subject: str, method: str) -> str:
        modality = self.classic[method].modality
        if modality not in self.modalities(subject):
            raise PlanError(
                f"classic method {method} needs a {modality} scan, which sub-{subject} lacks"
            )
        return self.preprocessed(subject)[modality]

    def silver_methods(self, subject: str) -> list[str]:
        """The classic methods whose STAPLE consensus is a visit's silver mask: those of
        :attr:`silver` the visit's scans allow; a visit that allows none of them (a
        T1w-only visit, a FLAIR method's silver) takes every method it allows."""
        allowed = self.classic_methods(subject)
        return [m for m in allowed if m in self.silver] or allowed

    def bronze_mask(self, subject: str, method: str) -> str:
        return self.bids(subject, space=GRID, label="WMH", desc=method, suffix="mask")

    def silver_mask(self, subject: str) -> str:
        return self.bids(subject, space=GRID, label="WMH", desc="silver", suffix="mask")

    def bronze_training_methods(self, subject: str) -> list[str]:
        """The classic methods whose masks a visit gives the bronze training stage:
        models.lesion.stages.bronze.methods ([]: every method of classic.use)."""
        bronze = self.config["models"]["lesion"]["stages"]["bronze"]
        chosen = bronze.get("methods") or list(self.classic)
        return [m for m in self.classic_methods(subject) if m in chosen]

    def classic_evaluation(self, subject: str) -> dict[str, str]:
        """Bronze and silver masks scored beside the model, by mode (none without
        classic methods)."""
        methods = self.classic_methods(subject)
        if not methods:
            return {}
        return {
            **{f"classic-{m}": self.bronze_mask(subject, m) for m in methods},
            "silver": self.silver_mask(subject),
        }

    # ------------------------------------------------------------ models

    def expert_training_subjects(self) -> list[str]:
        """The split=train visits with an expert lesion mask (the lesion gold stage)."""
        return [
            s
            for s in self.subjects
            if self.column(s, "split") == "train" and self.column(s, "lesion_mask")
        ]

    def _plan_models(self) -> tuple[LesionModelSource, RegionModelPlan]:
        models, folds = self.config["models"], self.config["nnunet"]["folds"]
        try:
            lesion = lesion_model_source(
                training_mode=models["lesion"]["training_mode"],
                pretrained=models["lesion"]["pretrained"],
                n_expert=len(self.expert_training_subjects()),
                folds=folds,
                classic_methods=self.silver,
            )
        except InputError as err:
            raise PlanError(str(err)) from None
        with_reference = (
            self.subjects if self.demo else [s for s in self.subjects if self.given_regions(s)]
        )
        region = region_model_plan(
            splits={s: self.column(s, "split") for s in self.subjects},
            with_reference=with_reference,
            loads_regions=self.config["loads"]["regions"],
            pretrained=models["region"]["pretrained"],
            folds=folds,
        )
        return lesion, region

    def is_pretrained(self, model: str) -> bool:
        return bool(self.config["models"][model]["pretrained"])

    def stages(self, model: str) -> tuple[str, ...]:
        """The training stages of a model, in order; the last one's folds segment."""
        if model != "lesion" or self.lesion_source.pretrained:
            return ("gold",)
        return LESION_STAGES[str(self.lesion_source.training_mode)]

    def previous_stage(self, model: str, stage: str) -> str | None:
        order = self.stages(model)
        return order[order.index(stage) - 1] if order.index(stage) else None

    def nnunet_dataset(self, model: str, stage: str = "gold") -> str:
        from wmhmap.nnunet.env import dataset_name

        spec = self.config["models"][model]
        dataset_id = spec["dataset_id"] if stage == "gold" else spec["stages"][stage]["dataset_id"]
        return dataset_name(dataset_id, DATASET_NAMES[model] + STAGE_NAMES[stage])

    def grid_image(self, subject: str) -> str:
        """The N4-corrected scan whose grid is the visit's analysis grid."""
        return self.n4_image(subject, self.reference_modality(subject))

    @property
    def gpus(self) -> int:
        """GPUs a training or segmentation job asks for (``nnunet.device: cuda``)."""
        return 1 if self.config["nnunet"]["device"] == "cuda" else 0

    def settings(self, section: str, keys: Sequence[str]) -> dict[str, Any]:
        """The values of ``keys`` in a config section: what a job depends on of it."""
        return {key: self.config[section][key] for key in keys}

    def final_dataset(self, model: str) -> str:
        """The dataset whose folds segment the subjects (the last training stage's)."""
        return self.nnunet_dataset(model, self.stages(model)[-1])

    def dataset_stage(self, dataset: str) -> tuple[str, str]:
        """(model, training stage) of a dataset name."""
        for model in self.used_models:
            for stage in self.stages(model):
                if self.nnunet_dataset(model, stage) == dataset:
                    return model, stage
        raise PlanError(f"{dataset} is not one of this configuration's nnU-Net datasets")

    def dataset_model(self, dataset: str) -> str:
        return self.dataset_stage(dataset)[0]

    def dataset_input_mode(self, dataset: str) -> str:
        return str(self.config["models"][self.dataset_model(dataset)]["input_mode"])

    def _check_training_stages(self) -> None:
        ids = {
            self.nnunet_dataset(m, st): self.nnunet_dataset(m, st)[len("Dataset") :][:3]
            for m in self.used_models
            for st in self.stages(m)
        }
        if len(set(ids.values())) < len(ids):
            raise PlanError(
                f"the nnU-Net datasets {sorted(ids)} share a dataset id: give "
                "models.lesion.dataset_id, models.region.dataset_id and "
                "models.lesion.stages.*.dataset_id different values"
            )
        lesion_stages = self.stages("lesion")
        if {"bronze", "silver"} & set(lesion_stages) and not self.classic:
            raise PlanError(
                f"models.lesion.training_mode: {self.lesion_source.training_mode} "
                "learns from classic masks but classic.use is empty: name at least one "
                "method of classic.methods there, or use training_mode: gold"
            )
        bronze = self.config["models"]["lesion"]["stages"]["bronze"].get("methods") or []
        unknown = [m for m in bronze if m not in self.classic]
        if unknown and "bronze" in lesion_stages:
            raise PlanError(
                f"models.lesion.stages.bronze.methods names {unknown}, which classic.use "
                f"does not run (classic.use: {list(self.classic)}): add them to "
                "classic.use, or name methods of it ([] for all)"
            )

    def nnunet_settings(self, model: str, stage: str = "gold") -> dict[str, Any]:
        """The nnunet section with the model's (and a stage's) training settings applied."""
        from wmhmap.nnunet.training import stage_settings

        return stage_settings(self.config, model, stage)

    def recipe(self, dataset: str, step: str) -> dict[str, Any]:
        """The settings a ``step`` ("plan", "train") of a dataset depends on
        (wmhmap.nnunet.training.RECIPE_KEYS)."""
        from wmhmap.nnunet.training import recipe

        return recipe(self.nnunet_settings(*self.dataset_stage(dataset)), step)

    def stage_model_folder(self, model: str, stage: str) -> str:
        """nnU-Net's folder of one training stage's model (all its folds)."""
        from wmhmap.nnunet.training import model_folder

        n = self.nnunet_settings(model, stage)
        folder = model_folder(
            Path(f"{self.nnunet_root}/models"),
            self.nnunet_dataset(model, stage),
            n["trainer"],
            n["plans"],
            n["configuration"],
        )
        return str(folder)

    def pretrained_model_folder(self, model: str) -> str:
        """Model folder a configured zip installs (read from the zip)."""
        from wmhmap.nnunet.sharing import model_folders_in_zip

        zip_path = Path(self.config["models"][model]["pretrained"])
        try:
            folders = model_folders_in_zip(zip_path)
        except (OSError, InputError, zipfile.BadZipFile) as err:
            raise PlanError(f"models.{model}.pretrained: {err}") from None
        if len(folders) != 1:
            raise PlanError(
                f"models.{model}.pretrained ({zip_path}) holds {len(folders)} models; "
                "export one model (one configuration) per zip"
            )
        return f"{self.nnunet_root}/models/{folders[0]}"

    def trained_model_folder(self, model: str) -> str:
        if self.is_pretrained(model):
            return self.pretrained_model_folder(model)
        return self.stage_model_folder(model, self.stages(model)[-1])

    def fold_ids(self, model: str) -> list[int]:
        if self.is_pretrained(model):
            with zipfile.ZipFile(self.config["models"][model]["pretrained"]) as zf:
                return sorted(
                    {
                        int(part.removeprefix("fold_"))
                        for name in zf.namelist()
                        for part in Path(name).parts
                        if part.startswith("fold_") and part.removeprefix("fold_").isdigit()
                    }
                )
        return list(range(self.config["nnunet"]["folds"]))

    @staticmethod
    def fold_checkpoints(folder: str, folds: Iterable[int]) -> list[str]:
        """The final checkpoint of each fold of a model folder."""
        return [f"{folder}/fold_{k}/checkpoint_final.pth" for k in folds]

    def trained_checkpoints(self, dataset: str) -> list[str]:
        folder = self.stage_model_folder(*self.dataset_stage(dataset))
        return self.fold_checkpoints(folder, range(self.config["nnunet"]["folds"]))

    def final_checkpoints(self, model: str) -> list[str]:
        """The fold checkpoints of a model's last training stage (the ones that segment)."""
        return self.fold_checkpoints(self.trained_model_folder(model), self.fold_ids(model))

    def training_subjects(self, model: str, stage: str = "gold") -> list[str]:
        """Gold: split=train with a lesion mask (the lesion model), the region plan's
        subjects (the region model); bronze and silver learn from classic masks, which
        every visit has: all visits.

        Not filtered by input validation on purpose: a job that depends on the
        validation checkpoint reruns whenever it does (one subject added or re-checked),
        and that would retrain every model. A broken training scan stops the models.
        """
        if stage != "gold":
            return list(self.subjects)
        if model == "region":
            return list(self.region_plan.training)
        return self.expert_training_subjects()

    def reference_mask(self, subject: str) -> str:
        return self.bids(subject, space=GRID, label="WMH", desc="reference", suffix="mask")

    def reference_regions(self, subject: str) -> str:
        """A visit's given region map on its grid (rule prepare_reference_regions)."""
        return self.bids(subject, space=GRID, desc="reference", suffix="dseg")

    def training_table(self, dataset: str) -> list[TrainingEntry]:
        """A dataset's training cases; a bronze stage has one per visit and classic method.

        Raises when the stage has fewer subjects than folds, naming the ways out.
        """
        model, stage = self.dataset_stage(dataset)
        subjects = self.training_subjects(model, stage)
        folds = self.config["nnunet"]["folds"]
        if len(subjects) < folds:
            who = (
                f"split=train{' with a lesion_mask' if model == 'lesion' else ''}"
                if stage == "gold"
                else "visits"
            )
            alternative = (
                ", set models.lesion.training_mode: annotation_free (no expert masks)"
                if model == "lesion" and stage == "gold"
                else ""
            )
            raise PlanError(
                f"the {model} model's {stage} stage needs at least nnunet.folds = {folds} "
                f"training subjects ({who}); found {len(subjects)}. Mark more subjects as "
                f"train, lower nnunet.folds{alternative}, or give a pretrained model in "
                f"models.{model}.pretrained"
            )
        table = []
        for s in subjects:
            if stage == "bronze":
                labels = {m: self.bronze_mask(s, m) for m in self.bronze_training_methods(s)}
            elif stage == "silver":
                labels = {"": self.silver_mask(s)}
            elif model == "lesion":
                labels = {"": self.reference_mask(s)}
            else:
                given = self.given_regions(s)
                labels = {"": self.reference_regions(s) if given else self.atlas_labels(s)}
            table += [
                TrainingEntry(s, variant, self.preprocessed(s), label)
                for variant, label in labels.items()
            ]
        return table

    def training_inputs(self, dataset: str) -> dict[str, list[str]]:
        table = self.training_table(dataset)
        return {
            "images": sorted({p for entry in table for p in entry.images.values()}),
            "labels": [entry.label for entry in table],
        }

    def source_plans(self, dataset: str) -> list[str]:
        """A later training stage takes the first stage's plans (same network, so each
        fold can start from the previous stage's weights); a first stage plans itself."""
        model, stage = self.dataset_stage(dataset)
        before = self.previous_stage(model, stage)
        if before is None:
            return []
        plans = self.config["nnunet"]["plans"]
        source = self.nnunet_dataset(model, before)
        return [f"{self.nnunet_root}/preprocessed/{source}/{plans}.json"]

    def pretrained_fold(self, dataset: str, fold: str) -> list[str]:
        """The previous stage's checkpoint of the same fold (staged training), if any."""
        model, stage = self.dataset_stage(dataset)
        before = self.previous_stage(model, stage)
        if before is None:
            return []
        return [f"{self.stage_model_folder(model, before)}/fold_{fold}/checkpoint_final.pth"]

    def model_record(self, model: str) -> list[str]:
        """What a segmentation job needs of a model: one small record of it (an installed
        zip's checksum, or the manifest of the trained folds), not every fold: a cohort's
        thousands of segmentation jobs then hang on one file."""
        if self.is_pretrained(model):
            return [f"{self.nnunet_root}/installed/{model}.sha256"]
        return [f"{self.nnunet_root}/trained/{model}.json"]

    def segmentation_inputs(self, subject: str) -> dict[str, Any]:
        """A visit's images, each model's record and, when lesions are kept inside the
        brain, its brain mask."""
        files: dict[str, Any] = {
            "images": list(self.preprocessed(subject).values()),
            **{f"{m}_model": self.model_record(m) for m in self.used_models},
        }
        if self.config["models"]["lesion"]["brain_margin_mm"] is not None:
            files["brain"] = self.brain_mask(subject)
        return files

    def segmentation_files(self) -> dict[str, str]:
        """segment_subject's outputs: the region model's only when it runs."""
        files: dict[str, dict[str, str]] = {
            "lesion_modalities": dict(label="WMH", desc="modalities", suffix="probseg"),
            "lesion_folds": dict(label="WMH", desc="folds", suffix="probseg"),
            "probability": dict(label="WMH", suffix="probseg"),
            "mask": dict(desc="wmh", suffix="mask"),
            "lesion_sidecar": dict(desc="wmh", suffix="mask", extension=".json"),
        }
        if self.region_plan.used:
            files |= {
                "region_modalities": dict(desc="regionsmodalities", suffix="dseg"),
                "labels": dict(desc="regions", suffix="dseg"),
                "region_sidecar": dict(desc="regions", suffix="dseg", extension=".json"),
            }
        return {
            name: self.bids(WILDCARD, space=GRID, **entities) for name, entities in files.items()
        }

    def segmentation_settings(self) -> dict[str, dict[str, Any]]:
        """What segment_subject depends on of each model it runs, beside the weights:
        how nnU-Net runs (device, mirroring, tiling), fusion and brain margin, and the
        folder of the folds that segment."""
        settings = {}
        for model in self.used_models:
            nnunet, spec = self.nnunet_settings(model), self.config["models"][model]
            settings[model] = {
                "nnunet": {k: nnunet[k] for k in INFERENCE_KEYS},
                "config": {k: spec[k] for k in OUTPUT_KEYS if k in spec},
                "folder": self.trained_model_folder(model),
            }
        return settings

    def segmentation_outputs(self) -> list[str]:
        return [
            self.bids(s, space=GRID, desc=desc, suffix=suffix)
            for s in self.subjects
            for m in self.used_models
            for desc, suffix in [SEGMENTATION_OUTPUTS[m]]
        ]

    def exported_models(self) -> list[str]:
        return [
            f"{self.nnunet_root}/export/{self.final_dataset(m)}.zip"
            for m in self.used_models
            if not self.is_pretrained(m)
        ]

    # ------------------------------------------------------------ loads and evaluation

    @property
    def loads_regions_desc(self) -> str:
        """``desc`` of the region maps the loads use: the region model's or the atlas's."""
        return "regions" if self.config["loads"]["regions"] == "model" else "atlas"

    def loads_region_map(self, subject: str) -> str:
        """The region map the loads use: the nnU-Net region model's, or the atlas's."""
        return self.bids(subject, space=GRID, desc=self.loads_regions_desc, suffix="dseg")

    @cached_property
    def calibration_subjects(self) -> list[str]:
        """The visits that calibrate the load intervals (:mod:`wmhmap.intervals`): the
        lesion model's last-stage training visits with an expert mask (one fold held each
        out); none for a pretrained model."""
        if self.lesion_source.pretrained:
            return []
        final = self.stages("lesion")[-1]
        return [s for s in self.training_subjects("lesion", final) if self.column(s, "lesion_mask")]

    def loads_calibration_inputs(self, subject: str) -> dict[str, str]:
        """What a visit's loads need to calibrate and check the intervals: its expert mask
        on the grid, and for a calibration visit the folds (which one held it out)."""
        files: dict[str, str] = {}
        if self.column(subject, "lesion_mask"):
            files["reference"] = self.reference_mask(subject)
        if subject in self._calibration_set:
            dataset = self.final_dataset("lesion")
            files["dataset"] = f"{self.nnunet_root}/raw/{dataset}"
            files["splits"] = f"{self.nnunet_root}/preprocessed/{dataset}/splits_final.json"
        return files

    @cached_property
    def _calibration_set(self) -> frozenset[str]:
        return frozenset(self.calibration_subjects)

    def calibration_tables(self) -> list[str]:
        """The per-visit loads tables the interval calibration reads."""
        return self.per_subject(
            subjects=self.calibration_subjects,
            desc="regionalloads",
            suffix="stats",
            extension=".tsv",
        )

    def reference_subjects(self) -> list[str]:
        """Held-out visits with a reference mask (training subjects would flatter the model)."""
        return [
            s
            for s in self.subjects
            if self.column(s, "lesion_mask") and self.column(s, "split") != "train"
        ]

    def reference_region_map(self, subject: str) -> str:
        """The region map the region model is scored against: the demo's truth, or the
        visit's own region_map (scripts bring it onto the grid)."""
        if self.demo:
            return self.demo_truth(subject, "dseg", desc="truth")
        path = self.given_regions(subject)
        if not path:
            raise PlanError(f"subject {subject} has no region_map")
        return path

    def evaluation_tables(self, kind: str, subjects: Iterable[str]) -> list[str]:
        return self.per_subject(
            subjects=subjects,
            datatype="qc",
            desc=f"{kind}evaluation",
            suffix="stats",
            extension=".tsv",
        )

    def all_evaluation_tables(self) -> list[str]:
        """Every held-out visit's evaluation tables, also those the summary leaves out."""
        return self.evaluation_tables("wmh", self.reference_subjects()) + self.evaluation_tables(
            "region", self.region_plan.evaluated
        )

    def evaluation_targets(self) -> list[str]:
        if not (self.reference_subjects() or self.region_plan.evaluated):
            return []
        return [f"{self.results}/group/evaluation/wmh_metrics_summary.tsv"]

    # ------------------------------------------------------------ statistics

    def classification_tasks(self) -> list[str]:
        """Configured tasks whose two classes each have >= 2 subjects in the cohort.

        Subjects lacking a covariate the config asks for (age, sex) do not count: the
        classification leaves them out.
        """
        if "diagnosis" not in self.samples.columns:
            return []
        stats = self.config["stats"]
        needed = ["diagnosis"] + [c for c in ("age", "sex") if c in stats["covariates"]]
        complete = self.samples.loc[self.stats_visits].reindex(columns=needed).dropna()
        counts = complete["diagnosis"].astype(str).str.upper().value_counts()
        feasible = []
        for task in stats["tasks"]:
            positive, negative = (c.strip() for c in task.split(" vs "))
            if counts.get(positive, 0) >= 2 and counts.get(negative, 0) >= 2:
                feasible.append(task)
        return feasible

    def has_reference_volumes(self) -> bool:
        """Whether at least 3 statistics visits have a reference WMH volume."""
        if self.demo:
            return True
        column = self.samples.loc[self.stats_visits].get("reference_wmh_ml")
        # blank cells are empty strings in the checked sample table
        return column is not None and (column.fillna("").astype(str) != "").sum() >= 3

    def overlay_inputs(self, subject: str) -> dict[str, str]:
        files = self.preprocessed(subject)
        files["lesions"] = self.bids(subject, space=GRID, desc="wmh", suffix="mask")
        files["regions"] = self.loads_region_map(subject)
        files["loads"] = self.bids(subject, desc="regionalloads", suffix="stats", extension=".tsv")
        files["calibration"] = f"{self.results}/group/load_interval_calibration.tsv"
        return files

    def stats_targets(self, subjects: Iterable[str] | None = None) -> list[str]:
        """Tables and figures of the statistics stage this cohort supports."""
        figures, stats = self.figures_root, self.stats_root
        targets = [
            f"{self.results}/group/brain_volumes.tsv",
            *self.per_subject(
                subjects=subjects,
                datatype="figures",
                desc="lesionsregions",
                suffix="qc",
                extension=".png",
            ),
            *([f"{figures}/high_load_subjects.png"] if self.flair_subjects else []),
            f"{stats}/cluster_groups.tsv",
            f"{figures}/cluster_silhouette.png",
            f"{figures}/cluster_lesion_frequency.png",
            *([f"{figures}/zone_loads.png"] if self.zone_schemes else []),
            f"{figures}/lesion_frequency_maps.png",
        ]
        if self.has_reference_volumes():
            targets += [f"{stats}/bland_altman.tsv"]
            targets += [f"{figures}/{name}.png" for name in VALIDATION_FIGURES]
        if self.classification_tasks():
            targets += [
                f"{stats}/classification_auc.tsv",
                f"{figures}/roc_curves.png",
                f"{figures}/regional_coefficients.png",
            ]
        return targets

    def final_targets(self) -> list[str]:
        """Every result of the run (rule all)."""
        return [
            f"{self.results}/dataset_description.json",
            self.samplesheet_file(),
            *(p for s in self.subjects for p in self.preprocessed(s).values()),
            *(self.atlas_labels(s) for s in self.subjects),
            *(self.visit_check(s) for s in self.subjects if self.visit_pair(s)),
            f"{self.results}/group/registration_qc.tsv",
            self.failed_subjects,
            *self.segmentation_outputs(),
            *self.exported_models(),
            # every visit's own tables, also those the cohort tables leave out (failed
            # validation): planned with the rest of the visit's jobs (SLURM groups)
            *self.per_subject(desc="regionalloads", suffix="stats", extension=".tsv"),
            *self.per_subject(desc="brainvolumes", suffix="stats", extension=".tsv"),
            *self.all_evaluation_tables(),
            f"{self.results}/group/regional_loads_wide.tsv",
            f"{self.results}/group/regional_loads_long.tsv",  # with the load intervals
            *(self.zone_wide(scheme) for scheme in self.zone_schemes),
            *self.evaluation_targets(),
            *self.stats_targets(),
        ]

    # ------------------------------------------------------------ what jobs depend on

    def simulation_subject(self, subject: str) -> dict[str, Any]:
        """What a demo subject's simulation depends on of its row (not its split:
        demo.n_train changes which subjects train, not the scans)."""
        return self.visit_info(subject, SIMULATION_COLUMNS)

    def simulation_design(self) -> dict[str, Any]:
        """What every demo subject's simulation depends on of the ``demo`` section:
        scanners, anatomy and lesions (not n_subjects, n_train)."""
        demo = self.config["demo"]
        return {k: demo[k] for k in SIMULATION_KEYS if k in demo}


def demo_root(config: Mapping[str, Any]) -> str:
    """Where the embedded demo's scans, truth and sample sheet go: ``<results>/demo``."""
    return f"{str(config['results']).rstrip('/')}/demo"


def demo_raw(root: str, subject: str, modality: str) -> str:
    """A simulated demo scan (``rawdata/``)."""
    return derivative_path(f"{root}/rawdata", subject=subject, suffix=modality)


def demo_truth(root: str, subject: str, suffix: str, **entities: str) -> str:
    """A file of a demo subject's ground truth (``truth/``)."""
    return derivative_path(f"{root}/truth", subject=subject, suffix=suffix, **entities)


def demo_samples(config: Mapping[str, Any], root: str | None = None) -> pd.DataFrame:
    """The embedded demo cohort as a sample table (paths of the files it simulates;
    ``root``: :func:`demo_root` unless given)."""
    from wmhmap.demo.cohort import CohortDesign, demo_cohort

    d = config["demo"]
    design = CohortDesign(
        n_subjects=d["n_subjects"],
        n_train=min(d["n_train"], d["n_subjects"]),
        n_sites=d["n_sites"],
        seed=d["seed"],
    )
    cohort = demo_cohort(design)
    root = demo_root(config) if root is None else root
    cohort["flair"] = [demo_raw(root, s, "FLAIR") for s in cohort.subject]
    cohort["t1"] = [demo_raw(root, s, "T1w") for s in cohort.subject]
    cohort["lesion_mask"] = [
        demo_truth(root, s, "mask", label="WMH", desc="truth") for s in cohort.subject
    ]
    return cohort.set_index("subject", drop=False)


def load_cohort(config: Mapping[str, Any]) -> tuple[pd.DataFrame, bool]:
    """The run's cohort table and whether it is the demo: the sample sheet, the BIDS
    dataset (``input.bids``) or, with neither, the embedded demo."""
    from wmhmap.bidsdataset import BidsSelection, discover
    from wmhmap.samplesheet import load_samplesheet, validate_samplesheet

    sheet, bids_root = config["samplesheet"], config["input"]["bids"]
    if not (sheet or bids_root):
        return demo_samples(config), True
    if sheet and bids_root:
        raise PlanError("config sets both `samplesheet` and `input: bids`; keep one of them")
    try:
        if bids_root:
            found = discover(bids_root, BidsSelection.from_config(config["input"]))
            return validate_samplesheet(found, file=Path(bids_root) / "participants.tsv"), False
        return load_samplesheet(sheet, allowed_root=config["dataset_root"] or None), False
    except InputError as err:
        kind = "BIDS dataset" if bids_root else "sample sheet"
        raise PlanError(f"Invalid {kind}: {err}") from None


def plan_run(config: Mapping[str, Any]) -> Plan:
    """The plan of a run: its cohort loaded and checked, its models planned."""
    samples, demo = load_cohort(config)
    return Plan(config, samples, demo=demo)


def first_visits(samples: pd.DataFrame) -> dict[str, str]:
    """Each later visit's id -> the id of its subject's first visit, in a cohort table
    with sessions (its rows in time order: BIDS discovery sorts them by ``acq_time``,
    else by label in natural order; a sample sheet keeps its own order).

    >>> sheet = pd.DataFrame({"subject": ["a", "a", "b", "a"], "session": ["1", "2", "1", "3"]},
    ...                      index=["a_ses-1", "a_ses-2", "b_ses-1", "a_ses-3"])
    >>> first_visits(sheet)
    {'a_ses-2': 'a_ses-1', 'a_ses-3': 'a_ses-1'}
    """
    first: dict[str, str] = {}
    later: dict[str, str] = {}
    for visit, subject in zip(samples.index, samples["subject"], strict=True):
        if subject in first:
            later[str(visit)] = first[subject]
        else:
            first[subject] = str(visit)
    return later
