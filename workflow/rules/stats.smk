# Cohort statistics and the paper's figures: brain volumes, Bland-Altman validation,
# classification (ROC/AUC), clustering of regional loads.
from wmhmap.plan import CLASSIFICATION_KEYS, CLUSTERING_KEYS


rule measure_brain_volumes:
    """CSF, GM, WM (Atropos), hippocampus (atlas + local SyN) and ICV of one subject."""
    input:
        unpack(of_visit(PLAN.brain_volume_inputs)),
    output:
        bids(
            subject="{subject}",
            desc="brainvolumes",
            suffix="stats",
            extension=".tsv",
        ),
    log:
        log_path("measure_brain_volumes", subject="{subject}"),
    benchmark:
        benchmark_path("measure_brain_volumes", subject="{subject}")
    conda:
        "../envs/imaging.yaml"
    threads: 1
    params:
        modality=of_visit(PLAN.registration_modality),
        reproducible=config["registration"]["reproducible"],
        code=code_version("measure_brain_volumes.py"),
    script:
        "../scripts/measure_brain_volumes.py"


rule collect_brain_volumes:
    """Every subject's brain-structure volumes in one table."""
    input:
        tables=validated(desc="brainvolumes", suffix="stats", extension=".tsv"),
        failed=FAILED_SUBJECTS,  # which subjects the table takes
    output:
        f"{RESULTS}/group/brain_volumes.tsv",
    log:
        log_path("collect_brain_volumes"),
    conda:
        "../envs/imaging.yaml"
    params:
        code=code_version("concat_tables.py"),
    script:
        "../scripts/concat_tables.py"


rule validate_volumes:
    """Bland-Altman of predicted against reference WMH volumes; load distributions."""
    input:
        wide=f"{RESULTS}/group/regional_loads_wide.tsv",
        samplesheet=PLAN.samplesheet_file(),
        failed=FAILED_SUBJECTS,
    output:
        validation=f"{STATS}/volume_validation.tsv",
        agreement=f"{STATS}/bland_altman.tsv",
        bland_altman=figure("bland_altman", "bland_altman", "Validation"),
        bland_altman_log=figure("bland_altman_log", "bland_altman_log", "Validation"),
        scatter=figure("predicted_vs_reference", "predicted_vs_reference", "Validation"),
        by_diagnosis=figure("loads_by_diagnosis", "loads_by_group", "Validation"),
        by_site=figure("loads_by_site", "loads_by_group", "Validation"),
        pdfs=figure_pdfs(
            "bland_altman",
            "bland_altman_log",
            "predicted_vs_reference",
            "loads_by_diagnosis",
            "loads_by_site",
        ),
    log:
        log_path("validate_volumes"),
    conda:
        "../envs/stats.yaml"
    params:
        log_offset_ml=config["stats"]["log_offset_ml"],
        code=code_version("validate_volumes.py"),
    script:
        "../scripts/validate_volumes.py"


rule classify_diagnoses:
    """AD / MCI / CN logistic regression over the feature sets: ROC, AUC, DeLong, Logit."""
    input:
        unpack(lambda w: PLAN.zone_feature_inputs()),  # zone wide tables the sets use
        wide=f"{RESULTS}/group/regional_loads_wide.tsv",
        samplesheet=PLAN.samplesheet_file(),
        failed=FAILED_SUBJECTS,
        brain=f"{RESULTS}/group/brain_volumes.tsv",
        table=config["atlas"]["region_table"],
    output:
        auc=report(
            f"{STATS}/classification_auc.tsv",
            caption="../report/classification_auc.rst",
            category="Cohort statistics",
            subcategory="Classification",
        ),
        roc=f"{STATS}/classification_roc.tsv",
        delong=f"{STATS}/classification_delong.tsv",
        coefficients=report(
            f"{STATS}/classification_coefficients.tsv",
            caption="../report/classification_coefficients.rst",
            category="Cohort statistics",
            subcategory="Classification",
        ),
        predictions=f"{STATS}/classification_predictions.tsv",
        roc_figure=figure("roc_curves", "roc_curves", "Classification"),
        coefficient_figure=figure(
            "regional_coefficients", "regional_coefficients", "Classification"
        ),
        pdfs=figure_pdfs("roc_curves", "regional_coefficients"),
    log:
        log_path("classify_diagnoses"),
    benchmark:
        benchmark_path("classify_diagnoses")
    conda:
        "../envs/stats.yaml"
    params:
        tasks=PLAN.classification_tasks(),
        zone_sets=list(PLAN.zone_feature_inputs()),
        stats=PLAN.settings("stats", CLASSIFICATION_KEYS),
        code=code_version("classify_diagnoses.py"),
    script:
        "../scripts/classify_diagnoses.py"


rule cluster_regional_loads:
    """k-means on normalised regional loads: silhouette, groups, lesion-frequency map."""
    input:
        wide=f"{RESULTS}/group/regional_loads_wide.tsv",
        samplesheet=PLAN.samplesheet_file(),
        failed=FAILED_SUBJECTS,
        table=config["atlas"]["region_table"],
    output:
        assignments=f"{STATS}/cluster_assignments.tsv",
        silhouette=f"{STATS}/cluster_silhouette.tsv",
        groups=report(
            f"{STATS}/cluster_groups.tsv",
            caption="../report/cluster_groups.rst",
            category="Cohort statistics",
            subcategory="Clustering",
        ),
        frequency=f"{STATS}/cluster_lesion_frequency.tsv",
        silhouette_figure=figure(
            "cluster_silhouette", "cluster_silhouette", "Clustering"
        ),
        frequency_figure=figure(
            "cluster_lesion_frequency", "cluster_lesion_frequency", "Clustering"
        ),
        pdfs=figure_pdfs("cluster_silhouette", "cluster_lesion_frequency"),
    log:
        log_path("cluster_regional_loads"),
    conda:
        "../envs/stats.yaml"
    params:
        stats=PLAN.settings("stats", CLUSTERING_KEYS),
        code=code_version("cluster_regional_loads.py"),
    script:
        "../scripts/cluster_regional_loads.py"


rule figures:
    """Every paper figure, regenerated from existing tables (no image is recomputed)."""
    input:
        # the overlays of the visits that passed validation, so that a report can be
        # built after a --keep-going run with failures
        lambda w: PLAN.stats_targets(valid_subjects()),


rule plot_subject_overlay:
    """Lesions and regions over the subject's FLAIR and T1w (nilearn), PNG and PDF."""
    input:
        unpack(of_visit(PLAN.overlay_inputs)),
    output:
        report(
            bids(
                subject="{subject}",
                datatype="figures",
                desc="lesionsregions",
                suffix="qc",
                extension=".png",
            ),
            caption="../report/subject_overlay.rst",
            category="Quality control",
            subcategory="Lesions and regions",
            labels={"subject": SUBJECT_LABEL},
        ),
        pdf=bids(
            subject="{subject}",
            datatype="figures",
            desc="lesionsregions",
            suffix="qc",
            extension=".pdf",
        ),
    log:
        log_path("plot_subject_overlay", subject="{subject}"),
    conda:
        "../envs/stats.yaml"
    params:
        code=code_version("plot_subject_overlay.py"),
    script:
        "../scripts/plot_subject_overlay.py"


rule plot_high_load_panel:
    """Lesions and regions over FLAIR of the subjects with the highest loads (the
    study's Figure 3)."""
    input:
        summary=f"{RESULTS}/group/loads_summary.tsv",
        long=f"{RESULTS}/group/regional_loads_long.tsv",  # regional loads, folds' range
        flair=validated(
            space=GRID, desc="preproc", suffix="FLAIR", subjects=FLAIR_SUBJECTS
        ),
        lesions=validated(
            space=GRID, desc="wmh", suffix="mask", subjects=FLAIR_SUBJECTS
        ),
        regions=validated(
            space=GRID,
            desc=PLAN.loads_regions_desc,
            suffix="dseg",
            subjects=FLAIR_SUBJECTS,
        ),
    output:
        figure("high_load_subjects", "high_load_subjects", "Figures"),
        pdf=figure_pdfs("high_load_subjects"),
    log:
        log_path("plot_high_load_panel"),
    conda:
        "../envs/stats.yaml"
    params:
        subjects=lambda w: valid_subjects(FLAIR_SUBJECTS),
        n=4,
        code=code_version("plot_high_load_panel.py"),
    script:
        "../scripts/plot_high_load_panel.py"


rule map_lesion_frequency:
    """Every subject's lesions carried into the atlas space, averaged per diagnosis and
    per cluster: lesion-frequency maps (NIfTI), a table per region and a figure."""
    input:
        masks=validated(space=GRID, desc="wmh", suffix="mask"),
        xfms=lambda w: [PLAN.atlas_xfm(s) for s in valid_subjects()],
        atlas_t1=PLAN.atlas_files()["atlas_t1"],
        atlas_labels=PLAN.atlas_files()["atlas_labels"],
        table=config["atlas"]["region_table"],
        samplesheet=PLAN.samplesheet_file(),
        clusters=f"{STATS}/cluster_assignments.tsv",
        failed=FAILED_SUBJECTS,
    output:
        folder=directory(f"{RESULTS}/group/lesion_frequency"),
        table=report(
            f"{STATS}/lesion_frequency_regions.tsv",
            caption="../report/lesion_frequency.rst",
            category="Cohort statistics",
            subcategory="Lesion frequency",
        ),
        figure=figure("lesion_frequency_maps", "lesion_frequency", "Lesion frequency"),
        pdfs=figure_pdfs("lesion_frequency_maps"),
    log:
        log_path("map_lesion_frequency"),
    conda:
        "../envs/stats.yaml"
    threads: 1
    params:
        subjects=lambda w: valid_subjects(),
        template=PLAN.atlas_template_name(),
        code=code_version("map_lesion_frequency.py"),
    script:
        "../scripts/map_lesion_frequency.py"
