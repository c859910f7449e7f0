# nnU-Net v2 lesion and region models: datasets, planning, one job per fold, inference.
# Which models train, on what and in which stages: wmhmap.plan (Plan, "models").
from wmhmap.nnunet.env import training_threads
from wmhmap.plan import MODELS


wildcard_constraints:
    model="|".join(MODELS),
    fold="[0-9]+",
    dataset="Dataset[0-9]{3}_[A-Za-z0-9]+",
    trained="[A-Za-z0-9_]+__[A-Za-z0-9_]+__[a-z0-9_]+",


rule prepare_reference_mask:
    """Bring a subject's expert lesion mask onto its analysis grid (RAS)."""
    input:
        image=of_visit(PLAN.expert_mask),
        grid=of_visit(PLAN.grid_image),
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
        code=code_version("prepare_reference_image.py"),
    script:
        "../scripts/prepare_reference_image.py"


rule prepare_reference_regions:
    """Bring a subject's given region map (sample-sheet region_map) onto its analysis
    grid (RAS): the region model's training labels for that subject."""
    input:
        image=of_visit(PLAN.given_regions),
        grid=of_visit(PLAN.grid_image),
    output:
        bids(subject="{subject}", space=GRID, desc="reference", suffix="dseg"),
    log:
        log_path("prepare_reference_regions", subject="{subject}", space="{space}"),
    conda:
        "../envs/imaging.yaml"
    params:
        role="region map",
        code=code_version("prepare_reference_image.py"),
    script:
        "../scripts/prepare_reference_image.py"


rule write_nnunet_dataset:
    """Write a model's (or a training stage's) nnU-Net raw dataset."""
    input:
        unpack(lambda w: PLAN.training_inputs(w.dataset)),
    output:
        directory(f"{NNUNET_ROOT}/raw/{{dataset}}"),
    log:
        log_path("write_nnunet_dataset", dataset="{dataset}"),
    conda:
        "../envs/nnunet.yaml"
    params:
        subjects=lambda w: [e.as_dict() for e in PLAN.training_table(w.dataset)],
        model=lambda w: PLAN.dataset_model(w.dataset),
        stage=lambda w: PLAN.dataset_stage(w.dataset)[1],
        input_mode=lambda w: PLAN.dataset_input_mode(w.dataset),
        code=code_version("write_nnunet_dataset.py"),
    script:
        "../scripts/write_nnunet_dataset.py"


rule plan_nnunet:
    """Fingerprint, plan (or take the first stage's plans) and preprocess a dataset
    with nnU-Net; write subject-grouped folds."""
    input:
        raw=f"{NNUNET_ROOT}/raw/{{dataset}}",
        source_plans=lambda w: PLAN.source_plans(w.dataset),
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
        nnunet=lambda w: PLAN.recipe(w.dataset, "plan"),
        code=code_version("plan_nnunet.py"),
    script:
        "../scripts/plan_nnunet.py"


rule train_nnunet_fold:
    """Train one cross-validation fold of a model (GPU when configured); a later stage
    of staged training starts from the previous stage's weights of the same fold."""
    input:
        plans=rules.plan_nnunet.output.plans,
        splits=rules.plan_nnunet.output.splits,
        pretrained=lambda w: PLAN.pretrained_fold(w.dataset, w.fold),
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
    threads: training_threads(config["nnunet"]["device"])
    resources:
        gpu=PLAN.gpus,
    params:
        nnunet=lambda w: PLAN.recipe(w.dataset, "train"),
        # device, compile, validation: read from the config by the script
        model=lambda w: PLAN.dataset_model(w.dataset),
        stage=lambda w: PLAN.dataset_stage(w.dataset)[1],
        code=code_version("train_nnunet_fold.py"),
    script:
        "../scripts/train_nnunet_fold.py"


rule install_pretrained_model:
    """Verify a model zip's sha256 and install it (inference-only runs)."""
    input:
        zip=lambda w: config["models"][w.model]["pretrained"],
    output:
        f"{NNUNET_ROOT}/installed/{{model}}.sha256",
    log:
        log_path("install_pretrained_model", model="{model}"),
    conda:
        "../envs/nnunet.yaml"
    params:
        sha256=lambda w: config["models"][w.model]["sha256"],
        code=code_version("install_pretrained_model.py"),
    script:
        "../scripts/install_pretrained_model.py"


rule record_trained_model:
    """Record the trained folds that segment (folder, fold checksums) in one file."""
    input:
        lambda w: PLAN.final_checkpoints(w.model),
    output:
        f"{NNUNET_ROOT}/trained/{{model}}.json",
    log:
        log_path("record_trained_model", model="{model}"),
    conda:
        "../envs/nnunet.yaml"
    params:
        folds=lambda w: PLAN.fold_ids(w.model),
        code=code_version("record_trained_model.py"),
    script:
        "../scripts/record_trained_model.py"


rule segment_subject:
    """Segment a subject's WMH (and, when the region model is used, its 34 white-matter
    regions) from FLAIR and T1w with every fold of each model, and fuse: one job, so
    the imports, the device and the scans are loaded once per subject."""
    input:
        unpack(of_visit(PLAN.segmentation_inputs)),
    output:
        **PLAN.segmentation_files(),
    log:
        log_path("segment_subject", subject="{subject}", space="{space}"),
    benchmark:
        benchmark_path("segment_subject", subject="{subject}", space="{space}")
    conda:
        "../envs/nnunet.yaml"
    threads: 1
    resources:
        gpu=PLAN.gpus,
    params:
        models=PLAN.segmentation_settings(),
        images=of_visit(PLAN.preprocessed),
        code=code_version("segment_subject.py"),
    script:
        "../scripts/segment_subject.py"


rule export_nnunet_model:
    """Export a trained model as an nnU-Net zip with its sha256 beside it."""
    input:
        lambda w: PLAN.trained_checkpoints(w.dataset),
    output:
        zip=f"{NNUNET_ROOT}/export/{{dataset}}.zip",
        sha256=f"{NNUNET_ROOT}/export/{{dataset}}.zip.sha256",
    log:
        log_path("export_nnunet_model", dataset="{dataset}"),
    conda:
        "../envs/nnunet.yaml"
    params:
        folds=list(range(config["nnunet"]["folds"])),
        code=code_version("export_nnunet_model.py"),
    script:
        "../scripts/export_nnunet_model.py"
