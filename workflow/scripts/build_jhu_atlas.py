def main(log):
    import numpy as np

    from wmhmap.atlas import jhu_atlas
    from wmhmap.geometry import voxel_sizes
    from wmhmap.imageio import like, load_image, save_image
    from wmhmap.regions import load_region_table
    from wmhmap.zoneprior import jhu_zone_prior

    i, o = snakemake.input, snakemake.output
    type2 = load_image(i.labels, role="JHU type II labels", dtype=None)
    brain = load_image(i.brain_mask, role="atlas brain mask", dtype=None)
    tissue = load_image(i.tissue, role="atlas tissue classes", dtype=None)
    atlas = jhu_atlas(
        load_image(i.t1, role="atlas T1"),
        type2,
        brain,
        tissue,
        load_region_table(i.table),
        labels_file=i.labels,
    )
    prior = jhu_zone_prior(type2.dataobj, tissue.dataobj, brain.dataobj, voxel_sizes(type2))
    save_image(like(prior, atlas.t1, np.uint8), o.zones)
    save_image(atlas.t1, o.t1)
    save_image(atlas.labels, o.labels)
    save_image(atlas.brain_mask, o.brain_mask)
    save_image(atlas.white_matter, o.white_matter)
    save_image(atlas.extra_labels["hippocampus"], o.hippocampus)
    log.info("JHU atlas: labels %s", np.unique(atlas.labels.dataobj).tolist())


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
