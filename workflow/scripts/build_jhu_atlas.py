def main(log):
    import numpy as np

    from wmhmap.atlas import jhu_atlas
    from wmhmap.imageio import load_image, save_image
    from wmhmap.regions import load_region_table

    i, o = snakemake.input, snakemake.output
    atlas = jhu_atlas(
        load_image(i.t1, role="atlas T1"),
        load_image(i.labels, role="JHU type II labels", dtype=None),
        load_image(i.brain_mask, role="atlas brain mask", dtype=None),
        load_image(i.tissue, role="atlas tissue classes", dtype=None),
        load_region_table(i.table),
        labels_file=i.labels,
    )
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
