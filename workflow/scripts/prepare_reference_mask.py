import sys


def main(log):
    import nibabel as nib

    from wmhmap.errors import InputError
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.imageio import load_image, same_grid, save_image
    from wmhmap.paths import wildcards_key

    subject = wildcards_key(snakemake.wildcards)
    mask = load_image(
        snakemake.input.mask, subject=subject, role="lesion mask", dtype=None, allow_constant=True
    )
    mask = reorient_to_ras(mask)
    grid = nib.load(snakemake.input.grid)
    if not same_grid(mask, grid):
        raise InputError(
            "lesion mask is not on the grid of the scan it should be drawn on",
            subject=subject,
            file=snakemake.input.mask,
            fix="give the mask on the FLAIR grid (the T1w grid for subjects without FLAIR)",
        )
    save_image(mask, snakemake.output[0])


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
