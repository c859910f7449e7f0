# Classic WMH segmenters ("bronze" masks) and their STAPLE consensus ("silver" mask).


wildcard_constraints:
    method="|".join(PLAN.classic) or "no-classic-methods",


rule segment_wmh_classic:
    """Mark one classic method's WMH: white-matter intensity outliers of one scan."""
    input:
        image=lambda w: PLAN.classic_image(checked_visit(w), w.method),
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
        method=lambda w: dict(config["classic"]["methods"][w.method]),
        min_lesion_mm3=config["classic"]["min_lesion_mm3"],
        code=code_version("segment_wmh_classic.py"),
    script:
        "../scripts/segment_wmh_classic.py"


rule staple_wmh_masks:
    """Combine a subject's classic masks (classic.silver) by STAPLE into its silver mask."""
    input:
        of_visit(lambda s: [PLAN.bronze_mask(s, m) for m in PLAN.silver_methods(s)]),
    output:
        mask=PLAN.silver_mask("{subject}"),
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
        methods=of_visit(PLAN.silver_methods),
        code=code_version("staple_wmh_masks.py"),
    script:
        "../scripts/staple_wmh_masks.py"
