# Atlas-label propagation: affine atlas -> subject registration, labels onto the analysis grid.


rule build_jhu_atlas:
    """Merge the JHU type II parcellation into the 34 regions of the region table."""
    input:
        t1=f"{config['atlas']['jhu_dir']}/JHU_MNI_SS_T1_brain.nii.gz",
        labels=f"{config['atlas']['jhu_dir']}/JHU_MNI_SS_WMPM_Type-II.nii.gz",
        brain_mask=f"{config['atlas']['jhu_dir']}/JHU_MNI_SS_T1_mask.nii.gz",
        tissue=f"{config['atlas']['jhu_dir']}/JHU_MNI_SS_T1_Tissue_Classes.nii.gz",
        table=config["atlas"]["region_table"],
    output:
        t1=f"{ATLAS_ROOT}/tpl-JHU/tpl-JHU_T1w.nii.gz",
        labels=f"{ATLAS_ROOT}/tpl-JHU/tpl-JHU_desc-regions_dseg.nii.gz",
        brain_mask=f"{ATLAS_ROOT}/tpl-JHU/tpl-JHU_desc-brain_mask.nii.gz",
        white_matter=f"{ATLAS_ROOT}/tpl-JHU/tpl-JHU_label-WM_mask.nii.gz",
        hippocampus=f"{ATLAS_ROOT}/tpl-JHU/tpl-JHU_label-hippocampus_mask.nii.gz",
        zones=f"{ATLAS_ROOT}/tpl-JHU/tpl-JHU_desc-zones_dseg.nii.gz",
    log:
        log_path("build_jhu_atlas"),
    conda:
        "../envs/imaging.yaml"
    params:
        code=code_version("build_jhu_atlas.py"),
    script:
        "../scripts/build_jhu_atlas.py"


rule propagate_atlas_labels:
    """Register the atlas T1 to the subject's brain (affine, MI) and carry its labels over."""
    input:
        unpack(of_visit(PLAN.propagation_inputs)),
        table=config["atlas"]["region_table"],
    output:
        labels=bids(subject="{subject}", space=GRID, desc="atlas", suffix="dseg"),
        parcels=bids(subject="{subject}", space=GRID, desc="parcels", suffix="dseg"),
        white_matter=bids(
            subject="{subject}", space=GRID, label="WM", desc="atlas", suffix="mask"
        ),
        xfm=PLAN.atlas_xfm("{subject}"),
        qc=PLAN.registration_qc("{subject}"),
        figure=report(
            bids(
                subject="{subject}",
                datatype="figures",
                space=GRID,
                desc="atlas",
                suffix="qc",
                extension=".png",
            ),
            caption="../report/atlas_qc.rst",
            category="Quality control",
            subcategory="Atlas propagation",
            labels={"subject": SUBJECT_LABEL},
        ),
    log:
        log_path("propagate_atlas_labels", subject="{subject}", space="{space}"),
    benchmark:
        benchmark_path("propagate_atlas_labels", subject="{subject}", space="{space}")
    conda:
        "../envs/imaging.yaml"
    threads: 1
    params:
        affine=config["registration"]["affine"],
        wm_restricted=config["registration"]["wm_restricted"],
        region_map=config["atlas"]["region_map"],
        reproducible=config["registration"]["reproducible"],
        code=code_version("propagate_atlas_labels.py"),
    script:
        "../scripts/propagate_atlas_labels.py"


rule collect_registration_qc:
    """Gather every subject's registration quality into one table and flag, with reasons."""
    input:
        tables=validated(
            datatype="qc",
            space=GRID,
            desc="atlas",
            suffix="registration",
            extension=".tsv",
        ),
        # in a cohort with sessions: each later visit against its first
        visits=lambda w: PLAN.visit_checks(valid_subjects()),
        failed=FAILED_SUBJECTS,  # which subjects the table takes
    output:
        report(
            f"{RESULTS}/group/registration_qc.tsv",
            caption="../report/registration_qc.rst",
            category="Quality control",
            subcategory="Atlas propagation",
        ),
    log:
        log_path("collect_registration_qc"),
    conda:
        "../envs/imaging.yaml"
    params:
        # each threshold its own param: the table depends on these twelve alone
        min_brain_dice=config["qc"]["min_brain_dice"],
        min_correlation=config["qc"]["min_correlation"],
        icv_ml=config["qc"]["icv_ml"],
        region_volume_ratio=config["qc"]["region_volume_ratio"],
        max_fov_edge_mm2=config["qc"]["max_fov_edge_mm2"],
        wm_share=config["qc"]["wm_share"],
        min_t1w_flair_dice=config["qc"]["min_t1w_flair_dice"],
        min_t1w_flair_csf_dice=config["qc"]["min_t1w_flair_csf_dice"],
        min_t1w_wm_gm_ratio=config["qc"]["min_t1w_wm_gm_ratio"],
        max_flair_wm_gm_ratio=config["qc"]["max_flair_wm_gm_ratio"],
        max_bright_wm_ratio=config["qc"]["max_bright_wm_ratio"],
        min_visit_csf_dice=config["qc"]["min_visit_csf_dice"],
        code=code_version("collect_registration_qc.py"),
    script:
        "../scripts/collect_registration_qc.py"
