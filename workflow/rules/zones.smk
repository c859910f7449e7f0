# Zones beyond the 34 regions: periventricular / deep and bullseye maps per subject.


rule map_zones:
    """Periventricular / deep and bullseye zones on the subject's white matter."""
    input:
        unpack(of_visit(PLAN.zone_inputs)),
    output:
        pvdeep=bids(subject="{subject}", space=GRID, desc="pvdeep", suffix="dseg"),
        bullseye=bids(subject="{subject}", space=GRID, desc="bullseye", suffix="dseg"),
        ventricles=bids(
            subject="{subject}",
            space=GRID,
            label="ventricles",
            desc="zones",
            suffix="mask",
        ),
        figure=report(
            bids(
                subject="{subject}",
                datatype="figures",
                space=GRID,
                desc="zones",
                suffix="qc",
                extension=".png",
            ),
            caption="../report/zones_qc.rst",
            category="Quality control",
            subcategory="Zones",
            labels={"subject": SUBJECT_LABEL},
        ),
    log:
        log_path("map_zones", subject="{subject}", space="{space}"),
    benchmark:
        benchmark_path("map_zones", subject="{subject}", space="{space}")
    conda:
        "../envs/imaging.yaml"
    threads: 1
    params:
        region_map=config["atlas"]["region_map"],
        bands_mm=config["zones"]["pvdeep"]["bands_mm"],
        juxtacortical_mm=config["zones"]["pvdeep"]["juxtacortical_mm"],
        lobes=config["zones"]["bullseye"]["lobes"],
        code=code_version("map_zones.py"),
    script:
        "../scripts/map_zones.py"


rule collect_zone_loads:
    """Cohort wide table of one zone scheme's loads (subjects x zones)."""
    input:
        loads=validated(desc="regionalloads", suffix="stats", extension=".tsv"),
        failed=FAILED_SUBJECTS,
    output:
        wide=f"{RESULTS}/group/regional_loads_wide_{{scheme}}.tsv",
    log:
        log_path("collect_zone_loads", scheme="{scheme}"),
    wildcard_constraints:
        scheme="pvdeep|bullseye",
    conda:
        "../envs/imaging.yaml"
    params:
        code=code_version("collect_zone_loads.py"),
    script:
        "../scripts/collect_zone_loads.py"


rule plot_zone_loads:
    """Bullseye plots and periventricular / deep loads per diagnosis."""
    input:
        unpack(lambda w: {s: PLAN.zone_wide(s) for s in PLAN.zone_schemes}),
        samplesheet=PLAN.samplesheet_file(),
        failed=FAILED_SUBJECTS,
    output:
        figure=figure("zone_loads", "zone_loads", "Zones"),
        pdfs=figure_pdfs("zone_loads"),
    log:
        log_path("plot_zone_loads"),
    conda:
        "../envs/stats.yaml"
    params:
        bands_mm=config["zones"]["pvdeep"]["bands_mm"],
        juxtacortical_mm=config["zones"]["pvdeep"]["juxtacortical_mm"],
        code=code_version("plot_zone_loads.py"),
    script:
        "../scripts/plot_zone_loads.py"
