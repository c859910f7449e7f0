def main(log):
    import json
    from pathlib import Path

    from wmhmap.classic import methods_from_config, segment_file
    from wmhmap.imageio import atomic_open, save_image
    from wmhmap.paths import wildcards_key

    subject = wildcards_key(snakemake.wildcards)
    (method,) = methods_from_config({snakemake.wildcards.method: snakemake.params.method})
    mask, facts = segment_file(
        Path(snakemake.input.image),
        Path(snakemake.input.white_matter),
        Path(snakemake.input.brain),
        method,
        subject=subject,
        min_lesion_mm3=float(snakemake.params.min_lesion_mm3),
    )
    facts["Sources"] = [str(snakemake.input.image), str(snakemake.input.white_matter)]
    with atomic_open(snakemake.output.sidecar) as fh:
        json.dump(facts, fh, indent=2)
    save_image(mask, snakemake.output.mask)
    log.info("%s %s: %.2f mL", subject, method.name, facts["VolumeML"])


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
