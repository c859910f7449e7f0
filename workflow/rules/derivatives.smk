# The results folder as a BIDS derivatives dataset, and the cohort table of a BIDS input.

from wmhmap.derivatives import REGION_SEGMENTATIONS


rule write_dataset_description:
    """Describe the results as a BIDS derivatives dataset (GeneratedBy wmhmap), with the
    lookup tables of its region segmentations (dseg.tsv: value, name)."""
    input:
        table=config["atlas"]["region_table"],
    output:
        description=f"{RESULTS}/dataset_description.json",
        bidsignore=f"{RESULTS}/.bidsignore",
        lookups=expand(
            "{results}/desc-{desc}_dseg.tsv",
            results=RESULTS,
            desc=REGION_SEGMENTATIONS,
        ),
    log:
        log_path("write_dataset_description"),
    conda:
        "../envs/imaging.yaml"
    params:
        source=BIDS_ROOT,
        code=code_version("write_dataset_description.py"),
    script:
        "../scripts/write_dataset_description.py"


rule write_cohort_table:
    """Write every visit, and the one per subject the statistics read (BIDS input, sessions)."""
    output:
        statistics=f"{RESULTS}/group/samples.tsv",
        visits=f"{RESULTS}/group/visits.tsv",
    log:
        log_path("write_cohort_table"),
    conda:
        "../envs/imaging.yaml"
    params:
        samples=SAMPLES,
        statistics=PLAN.stats_visits,
        code=code_version("write_cohort_table.py"),
    script:
        "../scripts/write_cohort_table.py"
