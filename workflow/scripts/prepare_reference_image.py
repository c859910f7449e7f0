def main(log):
    import nibabel as nib

    from wmhmap.imageio import load_image, save_image
    from wmhmap.paths import wildcards_key
    from wmhmap.references import onto_analysis_grid

    subject = wildcards_key(snakemake.wildcards)
    role = snakemake.params.role  # "lesion mask" or "region map"
    image = load_image(
        snakemake.input.image, subject=subject, role=role, dtype=None, allow_constant=True
    )
    grid = nib.load(snakemake.input.grid)
    on_grid = onto_analysis_grid(
        image, grid, role=role, subject=subject, file=snakemake.input.image
    )
    save_image(on_grid, snakemake.output[0])
    log.info("%s: %s %s on the analysis grid", subject, role, snakemake.input.image)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
