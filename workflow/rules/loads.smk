# Regional loads: the lesion mask times the region map, per subject and per cohort.


rule compute_regional_loads:
    """Lesion volume in each of the 34 regions, outside them and in total, for one subject."""
    input:
        unpack(of_visit(PLAN.zone_loads_inputs)),  # the zone maps, by scheme
        lesions=on_grid(desc="wmh", suffix="mask"),
        folds=on_grid(label="WMH", desc="folds", suffix="probseg"),
        regions=of_visit(PLAN.loads_region_map),
        parcels=on_grid(desc="parcels", suffix="dseg"),
        brain=on_grid(desc="brain", suffix="mask"),
        table=config["atlas"]["region_table"],
    output:
        long=bids(
            subject="{subject}",
            desc="regionalloads",
            suffix="stats",
            extension=".tsv",
        ),
        summary=bids(
            subject="{subject}",
            desc="loadsummary",
            suffix="stats",
            extension=".tsv",
        ),
    log:
        log_path("compute_regional_loads", subject="{subject}"),
    conda:
        "../envs/imaging.yaml"
    params:
        uncertain_spread=config["loads"]["uncertain_spread"],
        schemes=config["zones"]["schemes"],
        bands_mm=config["zones"]["pvdeep"]["bands_mm"],
        juxtacortical_mm=config["zones"]["pvdeep"]["juxtacortical_mm"],
        continuity=config["zones"]["pvdeep"]["continuity"],
        code=code_version("compute_regional_loads.py"),
    script:
        "../scripts/compute_regional_loads.py"


rule collect_regional_loads:
    """Cohort tables of regional loads: long, wide (subjects x regions) and summary."""
    input:
        loads=validated(desc="regionalloads", suffix="stats", extension=".tsv"),
        summaries=validated(desc="loadsummary", suffix="stats", extension=".tsv"),
        failed=FAILED_SUBJECTS,  # which subjects the tables take
    output:
        long=f"{RESULTS}/group/regional_loads_long.tsv",
        wide=f"{RESULTS}/group/regional_loads_wide.tsv",
        summary=f"{RESULTS}/group/loads_summary.tsv",
    log:
        log_path("collect_regional_loads"),
    conda:
        "../envs/imaging.yaml"
    params:
        code=code_version("collect_regional_loads.py"),
    script:
        "../scripts/collect_regional_loads.py"
