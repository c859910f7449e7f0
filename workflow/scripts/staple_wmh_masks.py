def main(log):
    import json
    from pathlib import Path

    from wmhmap.classic import staple_files
    from wmhmap.imageio import atomic_open, save_image
    from wmhmap.paths import wildcards_key

    subject = wildcards_key(snakemake.wildcards)
    masks = dict(zip(snakemake.params.methods, map(Path, snakemake.input), strict=True))
    mask, probability, facts = staple_files(masks, subject=subject)
    facts["Sources"] = [str(p) for p in snakemake.input]
    with atomic_open(snakemake.output.sidecar) as fh:
        json.dump(facts, fh, indent=2)
    save_image(probability, snakemake.output.probability)
    save_image(mask, snakemake.output.mask)
    log.info("%s silver: %.2f mL from %s", subject, facts["VolumeML"], list(masks))
    if not facts["Converged"]:
        log.warning(
            "%s: STAPLE had not converged after %d iterations (the bronze masks barely "
            "overlap; see their Sensitivity in %s): the silver mask is EM's last estimate",
            subject,
            facts["Iterations"],
            snakemake.output.sidecar,
        )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
