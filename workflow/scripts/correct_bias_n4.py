def main(log):
    import json
    from pathlib import Path

    from wmhmap.geometry import orientation_code
    from wmhmap.imageio import atomic_open, load_image, save_image
    from wmhmap.paths import wildcards_key
    from wmhmap.preprocess import N4Settings, prepare_scan
    from wmhmap.validation import require_valid

    require_valid(json.loads(Path(snakemake.input.validation).read_text()))
    subject, modality = wildcards_key(snakemake.wildcards), snakemake.wildcards.modality
    raw = load_image(snakemake.input.image, subject=subject, role=modality)
    log.info("%s %s: stored %s, reoriented to RAS", subject, modality, orientation_code(raw))
    settings = N4Settings.from_config(snakemake.params.n4)
    scan = prepare_scan(
        raw, settings, threads=snakemake.threads, subject=subject, file=snakemake.input.image
    )
    save_image(scan.brain, snakemake.output.brain)
    with atomic_open(snakemake.output.brain_json) as fh:
        json.dump(
            {
                "Type": "Brain",
                "Sources": [f"bids:raw:{Path(snakemake.input.image).name}"],
                "Method": "deepbet (Fisch et al. 2024), CPU, threshold 0.5",
                "Volume_mL": round(scan.brain_ml, 1),
                "ContrastKeptByN4": round(scan.contrast_kept, 3),
            },
            fh,
            indent=2,
        )
    save_image(scan.image, snakemake.output.image)
    log.info(
        "%s %s: brain %.0f mL, N4 kept %.0f %% of the intensity spread",
        subject,
        modality,
        scan.brain_ml,
        100 * scan.contrast_kept,
    )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
