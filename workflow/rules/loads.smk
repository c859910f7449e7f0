# Regional loads: the lesion mask times the region map, per subject and per cohort.


rule compute_regional_loads:
    """Lesion volume in each of the 34 regions, outside them and in total, for one subject."""
    input:
        unpack(of_visit(PLAN.zone_loads_inputs)),  # the zone maps, by scheme
        # the expert mask, and for a training visit the fold that held it out
        unpack(of_visit(PLAN.loads_calibration_inputs)),
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
    """Cohort tables of regional loads: wide (subjects x regions) and summary."""
    input:
        loads=validated(desc="regionalloads", suffix="stats", extension=".tsv"),
        summaries=validated(desc="loadsummary", suffix="stats", extension=".tsv"),
        failed=FAILED_SUBJECTS,  # which subjects the tables take
    output:
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


rule calibrate_load_intervals:
    """Calibrate the regional loads' intervals on the training subjects' loads by the
    fold that held each out, against their expert masks (split-conformal)."""
    input:
        loads=PLAN.calibration_tables(),
    output:
        f"{RESULTS}/group/load_interval_calibration.tsv",
    log:
        log_path("calibrate_load_intervals"),
    conda:
        "../envs/imaging.yaml"
    params:
        coverage=config["loads"]["interval_coverage"],
        floor_mm3=config["loads"]["interval_floor_mm3"],
        code=code_version("calibrate_load_intervals.py"),
    script:
        "../scripts/calibrate_load_intervals.py"


rule collect_loads_long:
    """The cohort long table of regional loads, every scheme, with calibrated intervals."""
    input:
        loads=validated(desc="regionalloads", suffix="stats", extension=".tsv"),
        calibration=f"{RESULTS}/group/load_interval_calibration.tsv",
        failed=FAILED_SUBJECTS,
    output:
        f"{RESULTS}/group/regional_loads_long.tsv",
    log:
        log_path("collect_loads_long"),
    conda:
        "../envs/imaging.yaml"
    params:
        code=code_version("collect_loads_long.py"),
    script:
        "../scripts/collect_loads_long.py"
