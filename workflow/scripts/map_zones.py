def main(log):
    import nibabel as nib
    import numpy as np

    from wmhmap.errors import InputError
    from wmhmap.geometry import voxel_sizes
    from wmhmap.imageio import atomic_path, like, load_image, same_grid, save_image
    from wmhmap.paths import wildcards_key
    from wmhmap.preprocess import LinearTransform, apply_linear
    from wmhmap.qc import label_overlay_figure
    from wmhmap.regions import load_region_table
    from wmhmap.zones import BullseyeSettings, PvDeepSettings, zone_maps

    i, o, p = snakemake.input, snakemake.output, snakemake.params
    subject = wildcards_key(snakemake.wildcards)
    brain = load_image(i.brain, subject=subject, role="brain mask", dtype=None)
    regions = load_image(i.regions, subject=subject, role="region map", dtype=None)
    parcels = load_image(i.parcels, subject=subject, role="atlas parcels", dtype=None)
    for image, file in ((regions, i.regions), (parcels, i.parcels)):
        if not same_grid(image, brain):
            raise InputError(
                "the map is not on the grid of the brain mask",
                subject=subject,
                file=file,
                fix=f"rerun the atlas propagation of this subject (brain mask: {i.brain})",
            )
    if p.region_map == "white_matter":  # the regions lie on the subject's white matter
        white_matter = np.asarray(regions.dataobj) > 0
    else:
        white_matter = np.asarray(nib.load(i.white_matter).dataobj) > 0
    prior = apply_linear(
        load_image(i.prior, role="atlas zone prior", dtype=None),
        brain,
        [LinearTransform.read(i.xfm)],
        interpolation="label",
    )
    t1w = None
    if "t1w" in i.keys():
        t1w = np.asarray(load_image(i.t1w, subject=subject, role="T1w").dataobj)
    maps = zone_maps(
        white_matter,
        np.asarray(brain.dataobj) > 0,
        np.asarray(prior.dataobj).astype(np.uint8),
        np.asarray(parcels.dataobj).astype(np.uint8),
        load_region_table(i.table),
        voxel_sizes(brain),
        pvdeep=PvDeepSettings(
            bands_mm=tuple(p.bands_mm), juxtacortical_mm=p.juxtacortical_mm, continuity=False
        ),
        bullseye=BullseyeSettings(lobes={k: tuple(v) for k, v in p.lobes.items()}),
        t1w=t1w,
        subject=subject,
    )
    save_image(like(maps.pvdeep, brain, np.uint8), o.pvdeep)
    save_image(like(maps.bullseye, brain, np.uint8), o.bullseye)
    save_image(like(maps.ventricles, brain, np.uint8), o.ventricles)
    reference = load_image(i.reference, subject=subject, role="analysis-grid scan")
    fig = label_overlay_figure(
        reference,
        like(maps.bullseye, brain, np.uint8),
        like(maps.ventricles, brain, np.uint8),
        title=f"sub-{subject}: bullseye zones (red: ventricles, from the "
        f"{'T1w' if t1w is not None else 'atlas'})",
    )
    with atomic_path(o.figure) as tmp:
        fig.savefig(tmp, dpi=90)
    voxel_ml = float(np.prod(voxel_sizes(brain))) / 1000
    log.info(
        "%s: white matter %.1f mL, ventricles %.1f mL, periventricular %.1f mL",
        subject,
        maps.white_matter.sum() * voxel_ml,
        maps.ventricles.sum() * voxel_ml,
        (maps.pvdeep == 1).sum() * voxel_ml,
    )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
