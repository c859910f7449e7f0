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
include: "workflow/rules/nnunet.smk"
include: "workflow/rules/loads.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/stats.smk"


rule all:
    """Every result of the workflow."""
    default_target: True
    input:
        final_targets(),
