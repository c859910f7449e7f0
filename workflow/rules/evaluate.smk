# Segmentation evaluation against reference masks (MICCAI 2017 WMH challenge metrics).

# What the evaluation tables carry of a visit.
EVALUATED_COLUMNS = ("subject", "site", "diagnosis")


rule evaluate_wmh_segmentation:
    """Score a subject's WMH segmentations (FLAIR, T1w, their mean, the configured
    fusion) and its classic masks (bronze, silver)."""
    input:
        reference=on_grid(label="WMH", desc="reference", suffix="mask"),
        modalities=on_grid(label="WMH", desc="modalities", suffix="probseg"),
        sidecar=on_grid(desc="wmh", suffix="mask", extension=".json"),
        mask=on_grid(desc="wmh", suffix="mask"),
        classic=of_visit(lambda s: list(PLAN.classic_evaluation(s).values())),
    output:
        bids(
            subject="{subject}",
            datatype="qc",
            desc="wmhevaluation",
            suffix="stats",
            extension=".tsv",
        ),
    log:
        log_path("evaluate_wmh_segmentation", subject="{subject}"),
    conda:
        "../envs/imaging.yaml"
    params:
        row=of_visit(PLAN.visit_info, EVALUATED_COLUMNS),
        classic_modes=of_visit(lambda s: list(PLAN.classic_evaluation(s))),
        code=code_version("evaluate_wmh_segmentation.py"),
    script:
        "../scripts/evaluate_wmh_segmentation.py"


rule evaluate_region_segmentation:
    """Region Dice of the region model (per modality, fused) and the atlas against truth."""
    input:
        reference=of_visit(PLAN.reference_region_map),
        modalities=on_grid(desc="regionsmodalities", suffix="dseg"),
        fused=on_grid(desc="regions", suffix="dseg"),
        sidecar=on_grid(desc="regions", suffix="dseg", extension=".json"),
        atlas=on_grid(desc="atlas", suffix="dseg"),
        table=config["atlas"]["region_table"],
    output:
        bids(
            subject="{subject}",
            datatype="qc",
            desc="regionevaluation",
            suffix="stats",
            extension=".tsv",
        ),
    log:
        log_path("evaluate_region_segmentation", subject="{subject}"),
    conda:
        "../envs/imaging.yaml"
    params:
        row=of_visit(PLAN.visit_info, EVALUATED_COLUMNS),
        code=code_version("evaluate_region_segmentation.py"),
    script:
        "../scripts/evaluate_region_segmentation.py"


rule summarize_evaluation:
    """Tables (mean ± SD per mode and site), Wilcoxon tests between modes, violin plots."""
    input:
        # held-out visits with a reference that passed validation
        wmh=lambda w: PLAN.evaluation_tables(
            "wmh", valid_subjects(PLAN.reference_subjects())
        ),
        regions=lambda w: PLAN.evaluation_tables(
            "region", valid_subjects(PLAN.region_plan.evaluated)
        ),
        failed=FAILED_SUBJECTS,  # which subjects the tables take
    output:
        metrics=f"{RESULTS}/group/evaluation/wmh_metrics.tsv",
        summary=f"{RESULTS}/group/evaluation/wmh_metrics_summary.tsv",
        by_site=f"{RESULTS}/group/evaluation/wmh_metrics_by_site.tsv",
        wilcoxon=f"{RESULTS}/group/evaluation/wmh_mode_comparison.tsv",
        region_dice=f"{RESULTS}/group/evaluation/region_dice.tsv",
        region_summary=f"{RESULTS}/group/evaluation/region_dice_summary.tsv",
        figures=directory(f"{RESULTS}/group/evaluation/figures"),
    log:
        log_path("summarize_evaluation"),
    conda:
        "../envs/stats.yaml"
    params:
        code=code_version("summarize_evaluation.py"),
    script:
        "../scripts/summarize_evaluation.py"
