# What every stage shares: the run's plan (wmhmap.plan), the results layout, the
# checkpoint of input validation, and the adapters from job wildcards to the plan.
# Each stage's own input functions live in its .smk file beside its rules.
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from wmhmap.codeversion import script_version
from wmhmap.errors import PlanError
from wmhmap.paths import wildcards_key as visit
from wmhmap.plan import GRID, plan_run

try:
    PLAN = plan_run(config)
except PlanError as err:
    raise WorkflowError(str(err)) from None
if workflow.is_main_process:  # where each model comes from, once per run (not per job)
    logger.info(PLAN.lesion_source.reason)
    logger.info(PLAN.region_plan.reason)

RESULTS = PLAN.results
BIDS_ROOT = PLAN.bids_root
DEMO = PLAN.demo
DEMO_ROOT = PLAN.demo_root
ATLAS_ROOT = PLAN.atlas_root
NNUNET_ROOT = PLAN.nnunet_root
STATS = PLAN.stats_root
FIGURES = PLAN.figures_root
FAILED_SUBJECTS = PLAN.failed_subjects
SAMPLES = PLAN.samples
SUBJECTS = PLAN.subjects
FLAIR_SUBJECTS = PLAN.flair_subjects
# Report labels of subject-level figures.
SUBJECT_LABEL = "{subject}_ses-{session}" if PLAN.sessions else "{subject}"

# Paths of results, logs and benchmarks (see wmhmap.plan.Plan).
bids = PLAN.bids
log_path = PLAN.log_path
benchmark_path = PLAN.benchmark_path
per_subject = PLAN.per_subject


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    session="[A-Za-z0-9]+",
    modality="FLAIR|T1w",
    space="FLAIR|T1w",


def code_version(script):
    """The ``code`` param of the jobs that run ``workflow/scripts/<script>``, a hash of
    the script and the wmhmap code it imports: a changed library function reruns the
    jobs it feeds (wmhmap.codeversion)."""
    return script_version(f"{workflow.basedir}/workflow/scripts/{script}")


def checked_visit(wildcards):
    """The visit id of a job, after checking a ``{space}`` wildcard names its grid."""
    return PLAN.check_space(visit(wildcards), wildcards.get("space"))


def of_visit(method, *args):
    """Input or params function: ``method(visit, *args)`` for the job's visit."""

    def lookup(wildcards):
        return method(checked_visit(wildcards), *args)

    return lookup


def on_grid(**entities):
    """Input function: a file of the job's visit on its analysis grid."""
    return of_visit(lambda s: bids(s, space=GRID, **entities))


def valid_subjects(subjects=None):
    """Visits (of ``subjects``) whose inputs passed validation: what the cohort tables
    take. Known once every visit is checked (checkpoint collect_input_validation)."""
    import pandas as pd

    table = checkpoints.collect_input_validation.get().output.table
    status = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    ok = set(status.loc[status.status == "ok", "subject"])
    return [s for s in (SUBJECTS if subjects is None else subjects) if s in ok]


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


def validated(subjects=None, **entities):
    """Input function: a path per validated visit (of ``subjects``), e.g. for cohort tables."""

    def paths(wildcards):
        return per_subject(subjects=valid_subjects(subjects), **entities)

    return paths
