import sys


def main(log):
    import numpy as np

    from wmhmap.atlas import JHU_HIPPOCAMPUS_LABELS, build_atlas_labels
    from wmhmap.imageio import like, load_image, save_image
    from wmhmap.regions import load_region_table

    i, o = snakemake.input, snakemake.output
    table = load_region_table(i.table)
    labels = load_image(i.labels, role="JHU type II labels", dtype=None)
    merged = build_atlas_labels(labels, table, file=i.labels)
    t1 = load_image(i.t1, role="atlas T1")
    tissue = np.asarray(load_image(i.tissue, role="atlas tissue classes", dtype=None).dataobj)
    mask = np.asarray(load_image(i.brain_mask, role="atlas brain mask", dtype=None).dataobj) > 0
    save_image(t1, o.t1)
    save_image(merged, o.labels)
    save_image(like(mask, t1, np.uint8), o.brain_mask)
    save_image(like(tissue == 3, t1, np.uint8), o.white_matter)
    hippocampus = np.isin(np.asarray(labels.dataobj), JHU_HIPPOCAMPUS_LABELS)
    save_image(like(hippocampus, t1, np.uint8), o.hippocampus)
    log.info(
        "merged %d JHU labels into %d regions",
        len(np.unique(labels.dataobj)),
        len(np.unique(merged.dataobj)) - 1,
    )


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
