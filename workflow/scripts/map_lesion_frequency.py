def main(log):
    import matplotlib

    matplotlib.use("Agg")

    import os

    import nibabel as nib
    import numpy as np

    from wmhmap.frequency import (
        FrequencyMaps,
        frequency_figure,
        group_members,
        region_frequency,
        to_template,
    )
    from wmhmap.imageio import atomic_open, like, load_image, save_image
    from wmhmap.preprocess import LinearTransform
    from wmhmap.regions import load_region_table
    from wmhmap.stats import read_table, with_diagnosis
    from wmhmap.stats.figures import save_figure
    from wmhmap.validation import log_excluded

    i, o, p = snakemake.input, snakemake.output, snakemake.params
    log_excluded(i.failed, log)
    template = load_image(i.atlas_t1, role="atlas T1")
    sheet = with_diagnosis(read_table(i.samplesheet, table_name="sample sheet"))
    diagnoses = dict(zip(sheet.subject.astype(str), sheet.diagnosis, strict=True))
    clusters = read_table(i.clusters, table_name="cluster assignments")
    by_cluster = dict(zip(clusters.subject.astype(str), clusters.cluster, strict=True))
    subjects = list(p.subjects)
    members = group_members(subjects, diagnoses, by_cluster)
    maps = FrequencyMaps.empty(template.shape[:3])
    for subject, mask, xfm in zip(subjects, i.masks, i.xfms, strict=True):
        carried = to_template(
            load_image(mask, subject=subject, role="lesion mask", dtype=None, allow_constant=True),
            template,
            LinearTransform.read(xfm),
        )
        maps.add(carried, ["all", *members[subject]])
    os.makedirs(o.folder, exist_ok=True)
    for group in sorted(maps.sums):  # all, diagnosis-AD ..., cluster-1 ...
        name = "desc-all" if group == "all" else group
        image = like(maps.frequency(group), template, np.float32)
        save_image(image, f"{o.folder}/{p.template}_{name}_lesionfrequency.nii.gz")
    labels = np.asarray(nib.load(i.atlas_labels).dataobj)
    table = region_frequency(maps, labels, load_region_table(i.table))
    with atomic_open(o.table) as fh:
        table.to_csv(fh, sep="\t", index=False, float_format="%.6g")
    order = [g for g in ("CN", "MCI", "AD") if f"diagnosis-{g}" in maps.sums]
    groups = [f"diagnosis-{g}" for g in order]
    groups += sorted(g for g in maps.sums if g.startswith("cluster-"))
    save_figure(frequency_figure(maps, template, groups or ["all"]), o.figure.removesuffix(".png"))
    log.info("lesion frequency of %d subjects in %d groups", len(subjects), len(maps.sums))


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
