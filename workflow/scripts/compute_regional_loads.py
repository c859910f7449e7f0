def main(log):
    from pathlib import Path

    import nibabel as nib
    import numpy as np

    from wmhmap.imageio import load_image, voxel_volume_mm3
    from wmhmap.loads import (
        check_same_grid,
        lesions_count_as_white_matter,
        load_uncertainty,
        regional_loads_from_images,
        summarize_loads,
        write_loads_tsv,
        zone_loads,
    )
    from wmhmap.nnunet.datasets import read_held_out_fold
    from wmhmap.paths import wildcards_key
    from wmhmap.regions import load_region_table
    from wmhmap.zones import PvDeepSettings

    i = snakemake.input
    subject = wildcards_key(snakemake.wildcards)
    table = load_region_table(i.table)
    brain = nib.load(i.brain)
    # Intracranial volume: the brain mask (deepbet: tissue and the CSF around it).
    icv = float((np.asarray(brain.dataobj) > 0).sum()) * voxel_volume_mm3(brain)
    lesions = load_image(
        i.lesions, subject=subject, role="lesion mask", dtype=None, allow_constant=True
    )
    regions = load_image(i.regions, subject=subject, role="region map", dtype=None)
    parcels = load_image(i.parcels, subject=subject, role="atlas parcels", dtype=None)
    folds = nib.load(i.folds)
    # what calibrates and checks the intervals (wmhmap.intervals): the expert's loads,
    # and a training subject's loads by the fold that did not learn from it
    expert = None
    if "reference" in i.keys():
        expert = load_image(
            i.reference, subject=subject, role="reference mask", dtype=None, allow_constant=True
        )
    same_grid = [
        (lesions, "lesion mask", i.lesions),
        (parcels, "parcels", i.parcels),
        (folds.slicer[..., 0], "fold probabilities", i.folds),
        *([(expert, "reference mask", i.reference)] if expert is not None else []),
    ]
    for image, what, file in same_grid:
        check_same_grid(
            image,
            regions,
            what=what,
            reference_what="region map",
            image_file=file,
            reference_file=i.regions,
            subject=subject,
        )
    region_labels, parcel_labels = np.asarray(regions.dataobj), np.asarray(parcels.dataobj)

    def region_map_for(mask):
        return lesions_count_as_white_matter(region_labels, parcel_labels, mask, table)

    counted = region_map_for(np.asarray(lesions.dataobj) > 0)
    loads = regional_loads_from_images(
        lesions,
        nib.Nifti1Image(counted, regions.affine, regions.header),
        table,
        subject=subject,
        icv_mm3=icv,
        lesion_file=i.lesions,
        region_file=i.regions,
    )
    fold_probabilities = folds.get_fdata(dtype=np.float32)
    reference = None if expert is None else np.asarray(expert.dataobj) > 0
    held_out = None
    if "splits" in i.keys():
        held_out = read_held_out_fold(i.splits, Path(i.dataset) / "dataset.json", subject)
        log.info("%s: held out by fold %s of the lesion model", subject, held_out)
    # per-fold loads and the probability-weighted load (UNCERTAINTY_COLUMNS)
    loads = load_uncertainty(
        fold_probabilities,
        region_map_for,
        loads,
        table,
        voxel_volume_mm3=voxel_volume_mm3(regions),
        max_spread=snakemake.params.uncertain_spread,
        held_out_fold=held_out,
        reference=reference,
    )
    summaries = summarize_loads(loads, icv_mm3=icv)
    p = snakemake.params
    pvdeep = PvDeepSettings(
        bands_mm=tuple(p.bands_mm), juxtacortical_mm=p.juxtacortical_mm, continuity=p.continuity
    )
    for scheme in p.schemes:  # the same lesions in each zone scheme's map
        zones = load_image(getattr(i, scheme), subject=subject, role=f"{scheme} zones", dtype=None)
        check_same_grid(
            zones,
            regions,
            what=f"{scheme} zones",
            reference_what="region map",
            image_file=getattr(i, scheme),
            reference_file=i.regions,
            subject=subject,
        )
        loads = zone_loads(
            loads,
            scheme,
            np.asarray(zones.dataobj),
            lesions,
            fold_probabilities,
            np.asarray(brain.dataobj) > 0,
            pvdeep=pvdeep,
            icv_mm3=icv,
            max_spread=p.uncertain_spread,
            held_out_fold=held_out,
            reference=reference,
        )
    write_loads_tsv(loads, snakemake.output.long)
    write_loads_tsv(summaries, snakemake.output.summary)
    summary = summaries.iloc[0]
    log.info(
        "%s: %.0f mm3 of WMH, %.0f mm3 outside the regions",
        subject,
        summary.global_mm3,
        summary.outside_mm3,
    )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
