import sys


def main(log):
    import nibabel as nib
    import numpy as np
    import pandas as pd

    from wmhmap.atlas import Atlas, PropagationSettings, propagate_atlas
    from wmhmap.imageio import atomic_open, atomic_path, load_image, save_image, voxel_volume_mm3
    from wmhmap.paths import wildcards_key
    from wmhmap.preprocess import LinearRegistrationSettings, LinearTransform
    from wmhmap.qc import label_overlay_figure
    from wmhmap.regions import load_region_table

    i, o = snakemake.input, snakemake.output
    subject = wildcards_key(snakemake.wildcards)
    cfg = snakemake.params.registration
    table = load_region_table(i.table)
    atlas = Atlas(
        t1=load_image(i.atlas_t1, role="atlas T1"),
        labels=load_image(i.atlas_labels, role="atlas labels", dtype=None),
        brain_mask=load_image(i.atlas_brain_mask, role="atlas brain mask", dtype=None),
        white_matter=load_image(i.atlas_white_matter, role="atlas white matter", dtype=None),
    )
    table.check_labels(np.unique(atlas.labels.dataobj), file=i.atlas_labels)
    settings = PropagationSettings(
        registration=LinearRegistrationSettings.from_config(cfg["affine"]),
        wm_restricted=cfg["wm_restricted"],
    )
    native = nib.load(i.native)
    reference = nib.load(i.reference)
    to_reference = LinearTransform.read(i.t1w_to_flair) if "t1w_to_flair" in i.keys() else None
    result = propagate_atlas(atlas, native, reference, to_reference, settings)

    save_image(result.labels, o.labels)
    save_image(result.brain_mask, o.brain)
    save_image(result.white_matter, o.white_matter)
    # stored from the analysis grid (its space names the file), as the labels were carried
    to_atlas = result.atlas_to_subject
    if to_reference is not None:
        to_atlas = to_reference.then(to_atlas)
    with atomic_path(o.xfm) as tmp:
        to_atlas.write(tmp)
    q = result.quality
    row = {
        "subject": subject,
        "correlation": round(q["correlation"], 4),
        "mattes_mi": round(q["mattes_mi"], 4),
        "atlas_scale": round(q["atlas_scale"], 4),
        "brain_ml": round(
            float((np.asarray(result.brain_mask.dataobj) > 0).sum())
            * voxel_volume_mm3(reference)
            / 1000,
            2,
        ),
        "regions_found": len(np.setdiff1d(np.unique(result.labels.dataobj), [0])),
        "flagged": bool(q["correlation"] < cfg["min_correlation"]),
    }
    with atomic_open(o.qc) as fh:
        pd.DataFrame([row]).to_csv(fh, sep="\t", index=False)
    if row["flagged"]:
        log.warning(
            "atlas fit of %s correlates %.2f < %.2f: inspect %s",
            subject,
            row["correlation"],
            cfg["min_correlation"],
            o.figure,
        )
    fig = label_overlay_figure(
        reference,
        result.labels,
        result.brain_mask,
        title=f"sub-{subject}: atlas regions (corr {row['correlation']:.2f})",
    )
    with atomic_path(o.figure) as tmp:
        fig.savefig(tmp, dpi=90)
    log.info("%s: %s", subject, row)


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.antspy import registration_script

    reproducible = snakemake.params.reproducible
    with registration_script(snakemake.log[0], snakemake.threads, reproducible=reproducible) as log:
        main(log)
