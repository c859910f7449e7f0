# nnU-Net v2 lesion and region models: datasets, planning, one job per fold, inference.


rule prepare_reference_mask:
    """Bring a subject's expert lesion mask onto its analysis grid (RAS)."""
    input:
        image=expert_mask,
        grid=analysis_grid_image,
    output:
        bids(
            subject="{subject}",
            space=GRID,
            label="WMH",
            desc="reference",
            suffix="mask",
        ),
    log:
        log_path("prepare_reference_mask", subject="{subject}", space="{space}"),
    conda:
        "../envs/imaging.yaml"
    params:
        role="lesion mask",
    script:
        "../scripts/prepare_reference_image.py"


rule prepare_reference_regions:
    """Bring a subject's given region map (sample-sheet region_map) onto its analysis
    grid (RAS): the region model's training labels for that subject."""
    input:
        image=lambda w: given_regions(checked_visit(w)),
        grid=analysis_grid_image,
    output:
        bids(subject="{subject}", space=GRID, desc="reference", suffix="dseg"),
    log:
        log_path("prepare_reference_regions", subject="{subject}", space="{space}"),
    conda:
        "../envs/imaging.yaml"
    params:
        role="region map",
    script:
        "../scripts/prepare_reference_image.py"


rule write_nnunet_dataset:
    """Write a model's (or a training stage's) nnU-Net raw dataset."""
    input:
        unpack(training_inputs),
    output:
        directory(f"{NNUNET_ROOT}/raw/{{dataset}}"),
    log:
        log_path("write_nnunet_dataset", dataset="{dataset}"),
    conda:
        "../envs/nnunet.yaml"
    params:
        subjects=training_subject_table,
        model=model_of_dataset,
        stage=stage_of_dataset,
        input_mode=input_mode_of_dataset,
    script:
        "../scripts/write_nnunet_dataset.py"


rule plan_nnunet:
    """Fingerprint, plan (or take the first stage's plans) and preprocess a dataset
    with nnU-Net; write subject-grouped folds."""
    input:
        raw=f"{NNUNET_ROOT}/raw/{{dataset}}",
        source_plans=source_plans,
    output:
        plans=f"{NNUNET_ROOT}/preprocessed/{{dataset}}/{config['nnunet']['plans']}.json",
        splits=f"{NNUNET_ROOT}/preprocessed/{{dataset}}/splits_final.json",
    log:
        log_path("plan_nnunet", dataset="{dataset}"),
    benchmark:
        benchmark_path("plan_nnunet", dataset="{dataset}")
    conda:
        "../envs/nnunet.yaml"
    threads: 2
    params:
        nnunet=recipe_of_dataset("plan"),
    script:
        "../scripts/plan_nnunet.py"


rule train_nnunet_fold:
    """Train one cross-validation fold of a model (GPU when configured); a later stage
    of staged training starts from the previous stage's weights of the same fold."""
    input:
        plans=rules.plan_nnunet.output.plans,
        splits=rules.plan_nnunet.output.splits,
        pretrained=pretrained_fold,
    output:
        f"{NNUNET_ROOT}/models/{{dataset}}/{{trained}}/fold_{{fold}}/checkpoint_final.pth",
    log:
        log_path(
            "train_nnunet_fold",
            dataset="{dataset}",
            trained="{trained}",
            fold="{fold}",
        ),
    benchmark:
        benchmark_path(
            "train_nnunet_fold",
            dataset="{dataset}",
            trained="{trained}",
            fold="{fold}",
        )
    conda:
        "../envs/nnunet.yaml"
    threads: training_threads()
    resources:
        gpu=gpu_resource(),
    params:
        nnunet=recipe_of_dataset("train"),
        # device, compile, validation: read from the config by the script
        model=model_of_dataset,
        stage=stage_of_dataset,
    script:
        "../scripts/train_nnunet_fold.py"


rule install_pretrained_model:
    """Verify a model zip's sha256 and install it (inference-only runs)."""
    input:
        zip=pretrained_zip,
    output:
        f"{NNUNET_ROOT}/installed/{{model}}.sha256",
    log:
        log_path("install_pretrained_model", model="{model}"),
    conda:
        "../envs/nnunet.yaml"
    params:
        sha256=pretrained_sha256,
    script:
        "../scripts/install_pretrained_model.py"


rule record_trained_model:
    """Record the trained folds that segment (folder, fold checksums) in one file."""
    input:
        final_checkpoints,
    output:
        f"{NNUNET_ROOT}/trained/{{model}}.json",
    log:
        log_path("record_trained_model", model="{model}"),
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        "../envs/nnunet.yaml"
    params:
        folds=lambda w: fold_ids(w.model),
    script:
        "../scripts/record_trained_model.py"


rule segment_subject:
    """Segment a subject's WMH (and, when the region model is used, its 34 white-matter
    regions) from FLAIR and T1w with every fold of each model, and fuse: one job, so
    the imports, the device and the scans are loaded once per subject."""
    input:
        unpack(segmentation_inputs),
    output:
        **segmentation_files(),
    log:
        log_path("segment_subject", subject="{subject}", space="{space}"),
    benchmark:
        benchmark_path("segment_subject", subject="{subject}", space="{space}")
    conda:
        "../envs/nnunet.yaml"
    threads: 1
    resources:
        gpu=gpu_resource(),
    params:
        models=segmentation_settings(),
        images=subject_images,
    script:
        "../scripts/segment_subject.py"


rule export_nnunet_model:
    """Export a trained model as an nnU-Net zip with its sha256 beside it."""
    input:
        trained_checkpoints,
    output:
        zip=f"{NNUNET_ROOT}/export/{{dataset}}.zip",
        sha256=f"{NNUNET_ROOT}/export/{{dataset}}.zip.sha256",
    log:
        log_path("export_nnunet_model", dataset="{dataset}"),
    conda:
        "../envs/nnunet.yaml"
    params:
        folds=list(range(config["nnunet"]["folds"])),
    script:
        "../scripts/export_nnunet_model.py"
