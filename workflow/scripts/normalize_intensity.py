def main(log):
    import nibabel as nib
    import numpy as np

    from wmhmap.imageio import save_image
    from wmhmap.preprocess import LinearTransform, apply_linear, dilate_mask, normalize_percentiles

    image = nib.load(snakemake.input.image)
    reference = nib.load(snakemake.input.reference)
    if "xfm" in snakemake.input.keys():
        image = apply_linear(
            image, reference, [LinearTransform.read(snakemake.input.xfm)], interpolation="linear"
        )
    brain = nib.load(snakemake.input.brain)
    mask = dilate_mask(np.asarray(brain.dataobj) > 0, brain, snakemake.params.dilation_mm)
    low, high = snakemake.params.percentiles
    save_image(normalize_percentiles(image, mask, low, high), snakemake.output[0])


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
