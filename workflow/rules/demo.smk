# The embedded demo: a synthetic cohort with ground truth, made from the MNI152 template.


rule build_demo_atlas:
    """Build the demo atlas: template T1, 34-region WM parcellation, masks."""
    output:
        t1=f"{ATLAS_ROOT}/tpl-demo/tpl-demo_T1w.nii.gz",
        labels=f"{ATLAS_ROOT}/tpl-demo/tpl-demo_desc-regions_dseg.nii.gz",
        brain_mask=f"{ATLAS_ROOT}/tpl-demo/tpl-demo_desc-brain_mask.nii.gz",
        white_matter=f"{ATLAS_ROOT}/tpl-demo/tpl-demo_label-WM_mask.nii.gz",
        hippocampus=f"{ATLAS_ROOT}/tpl-demo/tpl-demo_label-hippocampus_mask.nii.gz",
        tissue=f"{ATLAS_ROOT}/tpl-demo/tpl-demo_desc-tissue_dseg.nii.gz",
        zones=f"{ATLAS_ROOT}/tpl-demo/tpl-demo_desc-zones_dseg.nii.gz",
    log:
        log_path("build_demo_atlas"),
    conda:
        "../envs/imaging.yaml"
    params:
        code=code_version("build_demo_atlas.py"),
    script:
        "../scripts/build_demo_atlas.py"


rule simulate_demo_subject:
    """Simulate one subject's T1w and FLAIR with known lesions and regions."""
    input:
        labels=rules.build_demo_atlas.output.labels,
    output:
        t1=PLAN.demo_raw("{subject}", "T1w"),
        flair=PLAN.demo_raw("{subject}", "FLAIR"),
        lesion_mask=PLAN.demo_truth("{subject}", "mask", label="WMH", desc="truth"),
        regions=PLAN.demo_truth("{subject}", "dseg", desc="truth"),
        ventricles=PLAN.demo_truth(
            "{subject}", "mask", label="ventricles", desc="truth"
        ),
        truth=PLAN.demo_truth("{subject}", "stats", desc="truth", extension=".json"),
    log:
        log_path("simulate_demo_subject", visits=False, subject="{subject}"),
    benchmark:
        benchmark_path("simulate_demo_subject", visits=False, subject="{subject}")
    conda:
        "../envs/imaging.yaml"
    params:
        subject=lambda w: PLAN.simulation_subject(w.subject),
        demo=PLAN.simulation_design(),
        code=code_version("simulate_demo_subject.py"),
    script:
        "../scripts/simulate_demo_subject.py"


rule write_demo_samplesheet:
    """Write the demo cohort's sample sheet, with reference WMH volumes."""
    input:
        truth=expand(
            PLAN.demo_truth("{subject}", "stats", desc="truth", extension=".json"),
            subject=SUBJECTS,
        ),
    output:
        f"{DEMO_ROOT}/samplesheet.tsv",
    log:
        log_path("write_demo_samplesheet"),
    conda:
        "../envs/imaging.yaml"
    params:
        samples=SAMPLES,
        seed=config["demo"]["seed"],
        code=code_version("write_demo_samplesheet.py"),
    script:
        "../scripts/write_demo_samplesheet.py"
