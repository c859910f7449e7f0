# wmhmap: regional white matter hyperintensity mapping.
# Run: snakemake --cores N   (see README.md; profiles in workflow/profiles/)
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/atlas.smk"
include: "workflow/rules/zones.smk"
include: "workflow/rules/classic.smk"
include: "workflow/rules/nnunet.smk"
include: "workflow/rules/loads.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/derivatives.smk"


# Cohort tables are gathered on the submitting host, not queued on a cluster.
localrules:
    all,
    figures,
    write_demo_samplesheet,
    write_dataset_description,
    write_cohort_table,
    collect_input_validation,
    record_trained_model,
    collect_registration_qc,
    collect_brain_volumes,
    collect_regional_loads,
    calibrate_load_intervals,
    collect_loads_long,
    collect_zone_loads,
    summarize_evaluation,


rule all:
    """Every result of the workflow."""
    default_target: True
    input:
        PLAN.final_targets(),
