def main(log):
    import nibabel as nib

    from wmhmap.errors import InputError
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.imageio import load_image, same_grid, save_image
    from wmhmap.paths import wildcards_key

    subject = wildcards_key(snakemake.wildcards)
    role = snakemake.params.role  # "lesion mask" or "region map"
    image = load_image(
        snakemake.input.image, subject=subject, role=role, dtype=None, allow_constant=True
    )
    image = reorient_to_ras(image)
    grid = nib.load(snakemake.input.grid)
    if not same_grid(image, grid):
        raise InputError(
            f"{role} is not on the grid of the scan it belongs to",
            subject=subject,
            file=snakemake.input.image,
            fix=f"give the {role} on the FLAIR grid (the T1w grid for subjects without FLAIR)",
        )
    save_image(image, snakemake.output[0])
    log.info("%s: %s %s on the analysis grid", subject, role, snakemake.input.image)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
