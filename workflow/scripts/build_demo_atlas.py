def main(log):
    import numpy as np

    from wmhmap.demo.anatomy import load_template
    from wmhmap.demo.atlas import WM_THRESHOLD, parcellate_white_matter, tissue_classes
    from wmhmap.imageio import save_image
    from wmhmap.zoneprior import demo_zone_prior

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
    # white matter the parcellation leaves outside the regions: cerebellum and brainstem
    infratentorial = (template.wm >= WM_THRESHOLD) & (labels == 0)
    world = np.moveaxis(template.world_coordinates(), 0, -1)
    prior = demo_zone_prior(template.ventricles, template.gm, infratentorial, world)
    save_image(template.image(prior, np.uint8), out.zones)
    log.info(
        "demo atlas: %d region voxels in %d regions", (labels > 0).sum(), len(np.unique(labels)) - 1
    )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
