# Classic WMH segmenters ("bronze" masks) and their STAPLE consensus ("silver" mask).


rule segment_wmh_classic:
    """Mark one classic method's WMH: white-matter intensity outliers of one scan."""
    input:
        image=classic_image,
        white_matter=on_grid(label="WM", desc="atlas", suffix="mask"),
        brain=on_grid(desc="brain", suffix="mask"),
    output:
        mask=bids(
            subject="{subject}",
            space=GRID,
            label="WMH",
            desc="{method}",
            suffix="mask",
        ),
        sidecar=bids(
            subject="{subject}",
            space=GRID,
            label="WMH",
            desc="{method}",
            suffix="mask",
            extension=".json",
        ),
    log:
        log_path(
            "segment_wmh_classic",
            subject="{subject}",
            space="{space}",
            method="{method}",
        ),
    conda:
        "../envs/imaging.yaml"
    params:
        method=classic_method_settings,
        min_lesion_mm3=config["classic"]["min_lesion_mm3"],
    script:
        "../scripts/segment_wmh_classic.py"


rule staple_wmh_masks:
    """Combine a subject's classic masks by STAPLE into its silver mask."""
    input:
        bronze_masks,
    output:
        mask=silver_mask("{subject}"),
        probability=bids(
            subject="{subject}",
            space=GRID,
            label="WMH",
            desc="silver",
            suffix="probseg",
        ),
        sidecar=bids(
            subject="{subject}",
            space=GRID,
            label="WMH",
            desc="silver",
            suffix="mask",
            extension=".json",
        ),
    log:
        log_path("staple_wmh_masks", subject="{subject}", space="{space}"),
    conda:
        "../envs/imaging.yaml"
    params:
        methods=bronze_mask_names,
    script:
        "../scripts/staple_wmh_masks.py"
