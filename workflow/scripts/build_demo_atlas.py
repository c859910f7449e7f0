def main(log):
    import numpy as np

    from wmhmap.demo.anatomy import load_template
    from wmhmap.demo.atlas import parcellate_white_matter, tissue_classes, zone_prior
    from wmhmap.imageio import save_image

    out = snakemake.output
    template = load_template()
    labels = parcellate_white_matter(template)
    classes = tissue_classes(template)
    save_image(template.image(template.t1), out.t1)
    save_image(template.image(labels, np.uint8), out.labels)
    save_image(template.image(template.brain, np.uint8), out.brain_mask)
    save_image(template.image(classes == 3, np.uint8), out.white_matter)
    save_image(template.image(template.hippocampus, np.uint8), out.hippocampus)
    save_image(template.image(classes, np.uint8), out.tissue)
    save_image(template.image(zone_prior(template, labels), np.uint8), out.zones)
    log.info(
        "demo atlas: %d region voxels in %d regions", (labels > 0).sum(), len(np.unique(labels)) - 1
    )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
