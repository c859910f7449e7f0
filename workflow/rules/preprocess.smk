# Preprocessing: input checks, RAS + brain extraction + N4, rigid T1w -> FLAIR, normalisation.


rule validate_subject_inputs:
    """Check every input image of a subject before any heavy work starts."""
    input:
        unpack(lambda w: PLAN.raw_inputs(visit(w))),
    output:
        bids(
            subject="{subject}",
            datatype="qc",
            desc="inputs",
            suffix="validation",
            extension=".json",
        ),
    log:
        log_path("validate_subject_inputs", subject="{subject}"),
    conda:
        "../envs/imaging.yaml"
    params:
        files=lambda w: PLAN.input_files(visit(w)),
        code=code_version("validate_subject_inputs.py"),
    script:
        "../scripts/validate_subject_inputs.py"


checkpoint collect_input_validation:
    """Gather every subject's input check: which subjects the cohort tables take."""
    input:
        per_subject(
            datatype="qc", desc="inputs", suffix="validation", extension=".json"
        ),
    output:
        table=f"{RESULTS}/group/input_validation.tsv",
        failed=report(
            f"{RESULTS}/group/failed_subjects.tsv",
            caption="../report/failed_subjects.rst",
            category="Quality control",
            subcategory="Failed subjects",
        ),
    log:
        log_path("collect_input_validation"),
    conda:
        "../envs/imaging.yaml"
    params:
        code=code_version("collect_input_validation.py"),
    script:
        "../scripts/collect_input_validation.py"


rule correct_bias_n4:
    """Reorient a scan to RAS, extract its brain (deepbet) and correct its bias field (N4)."""
    input:
        image=lambda w: PLAN.raw_image(visit(w), w.modality),
        validation=lambda w: PLAN.validation_report(visit(w)),
    output:
        image=bids(subject="{subject}", desc="n4", suffix="{modality}"),
        brain=PLAN.native_brain_mask("{subject}", "{modality}"),
        brain_json=PLAN.native_brain_mask("{subject}", "{modality}", ".json"),
    log:
        log_path("correct_bias_n4", subject="{subject}", modality="{modality}"),
    benchmark:
        benchmark_path("correct_bias_n4", subject="{subject}", modality="{modality}")
    conda:
        "../envs/imaging.yaml"
    threads: 1
    params:
        n4=config["preprocess"]["n4"],
        code=code_version("correct_bias_n4.py"),
    script:
        "../scripts/correct_bias_n4.py"


rule register_t1w_to_flair:
    """Rigidly register the T1w to the FLAIR (mutual information)."""
    input:
        t1w=bids(subject="{subject}", desc="n4", suffix="T1w"),
        flair=bids(subject="{subject}", desc="n4", suffix="FLAIR"),
    output:
        xfm=PLAN.t1w_to_flair_xfm("{subject}"),
    log:
        log_path("register_t1w_to_flair", subject="{subject}"),
    benchmark:
        benchmark_path("register_t1w_to_flair", subject="{subject}")
    conda:
        "../envs/imaging.yaml"
    threads: 1
    params:
        rigid=config["preprocess"]["rigid"],
        reproducible=config["registration"]["reproducible"],
        code=code_version("register_t1w_to_flair.py"),
    script:
        "../scripts/register_t1w_to_flair.py"


rule compare_visits:
    """Rigidly register a later visit's scan onto its first visit's: one person?"""
    input:
        unpack(lambda w: PLAN.visit_check_inputs(visit(w))),
    output:
        PLAN.visit_check("{subject}"),
    log:
        log_path("compare_visits", subject="{subject}"),
    benchmark:
        benchmark_path("compare_visits", subject="{subject}")
    conda:
        "../envs/imaging.yaml"
    threads: 1
    params:
        first_visit=lambda w: PLAN.visit_pair(visit(w))[0],
        modality=lambda w: PLAN.visit_pair(visit(w))[1],
        rigid=config["preprocess"]["rigid"],
        reproducible=config["registration"]["reproducible"],
        code=code_version("compare_visits.py"),
    script:
        "../scripts/compare_visits.py"


rule normalize_intensity:
    """Bring a scan onto the analysis grid and scale brain intensities to [0, 1]."""
    input:
        unpack(lambda w: PLAN.normalization_inputs(checked_visit(w), w.modality)),
    output:
        bids(subject="{subject}", space=GRID, desc="preproc", suffix="{modality}"),
    log:
        log_path(
            "normalize_intensity",
            subject="{subject}",
            space="{space}",
            modality="{modality}",
        ),
    conda:
        "../envs/imaging.yaml"
    params:
        percentiles=config["preprocess"]["normalize_percentiles"],
        dilation_mm=config["preprocess"]["brain_mask_dilation_mm"],
        code=code_version("normalize_intensity.py"),
    script:
        "../scripts/normalize_intensity.py"
