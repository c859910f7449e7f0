def overlay_name(path):
    """The figure's path from the results folder (``sub-.../figures/...png``)."""
    from pathlib import Path

    parts = Path(path).parts
    first = next(k for k, part in enumerate(parts) if part.startswith("sub-"))
    return "/".join(parts[first:])


def main(log):

    import nibabel as nib
    import numpy as np
    import pandas as pd

    from wmhmap.atlas import (
        Atlas,
        PropagationSettings,
        coregistration_overlap,
        csf_overlap,
        propagate_atlas,
    )
    from wmhmap.brainvolumes import TISSUES, tissue_columns
    from wmhmap.imageio import atomic_open, atomic_path, load_image, save_image, voxel_volume_mm3
    from wmhmap.paths import wildcards_key
    from wmhmap.preprocess import LinearRegistrationSettings, LinearTransform
    from wmhmap.qc import fov_edge, label_overlay_figure, region_volume_extremes
    from wmhmap.regions import load_region_table

    i, o, p = snakemake.input, snakemake.output, snakemake.params
    subject = wildcards_key(snakemake.wildcards)
    table = load_region_table(i.table)
    atlas = Atlas(
        t1=load_image(i.atlas_t1, role="atlas T1"),
        labels=load_image(i.atlas_labels, role="atlas labels", dtype=None),
        brain_mask=load_image(i.atlas_brain_mask, role="atlas brain mask", dtype=None),
        white_matter=load_image(i.atlas_white_matter, role="atlas white matter", dtype=None),
    )
    table.check_labels(np.unique(atlas.labels.dataobj), file=i.atlas_labels)
    settings = PropagationSettings(
        registration=LinearRegistrationSettings.from_config(p.affine),
        wm_restricted=p.wm_restricted,
        region_map=p.region_map,
    )
    native = nib.load(i.native)
    native_brain = nib.load(i.native_brain)
    reference = nib.load(i.reference)
    modality = snakemake.wildcards.space if "t1w_to_flair" not in i.keys() else "T1w"
    to_reference = LinearTransform.read(i.t1w_to_flair) if "t1w_to_flair" in i.keys() else None
    result = propagate_atlas(
        atlas,
        native,
        reference,
        native_brain,
        to_reference,
        settings,
        modality=modality,
    )

    save_image(result.labels, o.labels)
    save_image(result.parcels, o.parcels)
    save_image(result.white_matter, o.white_matter)
    # stored from the analysis grid (its space names the file), as the labels were carried
    to_atlas = result.atlas_to_subject
    if to_reference is not None:
        to_atlas = to_reference.then(to_atlas)
    with atomic_path(o.xfm) as tmp:
        to_atlas.write(tmp)

    brain = nib.load(i.reference_brain)
    brain_voxels = float((np.asarray(brain.dataobj) > 0).sum())
    # the brain at the field of view's edge, on the scan the atlas was fitted to and on
    # the analysis grid (a FLAIR often covers less of the head than the T1w, or more)
    masks = {snakemake.wildcards.space: brain}
    # the T1w -> FLAIR fit the labels were carried through: the two brain masks overlap,
    # and so do their CSF (another person's T1w fits the outline, not the ventricles)
    coregistration = csf = float("nan")
    if to_reference is not None:
        masks[modality] = native_brain
        coregistration = coregistration_overlap(native_brain, brain, to_reference)
        csf = csf_overlap(native, reference, brain, to_reference)
    edge = fov_edge(masks)
    q = result.quality
    # each scan's contrast: on a T1w white matter is brighter than grey, on a FLAIR not;
    # CSF is dark on both (a T2w's brightest voxels are CSF)
    contrast = {"T1w": float("nan"), "FLAIR": float("nan"), modality: q["wm_gm_ratio"]}
    bright = {"T1w": float("nan"), "FLAIR": float("nan"), modality: q["bright_wm_ratio"]}
    if to_reference is not None:
        contrast["FLAIR"] = q["reference_wm_gm_ratio"]
        bright["FLAIR"] = q["reference_bright_wm_ratio"]
    row = {
        "subject": subject,
        "registered": modality,
        "brain_dice": round(q["brain_dice"], 4),
        "correlation": round(q["correlation"], 4),
        "mattes_mi": round(q["mattes_mi"], 4),
        "atlas_scale": round(q["atlas_scale"], 4),
        "rotation_search": q["rotation_search"],
        "icv_ml": round(brain_voxels * voxel_volume_mm3(brain) / 1000, 1),
        "regions_found": len(np.intersect1d(np.unique(result.labels.dataobj), table.ids)),
        "fov_edge_mm2": round(edge["fov_edge_mm2"], 1),
        "fov_edge": edge["fov_edge"],
        "t1w_flair_dice": round(coregistration, 4),
        "t1w_flair_csf_dice": round(csf, 4),
        "t1w_wm_gm_ratio": round(contrast["T1w"], 3),
        "flair_wm_gm_ratio": round(contrast["FLAIR"], 3),
        "t1w_bright_wm_ratio": round(bright["T1w"], 3),
        "flair_bright_wm_ratio": round(bright["FLAIR"], 3),
        # the T1w's tissue classes in its brain mask: the brain volumes are measured
        # from these (n/a for a FLAIR fit)
        **tissue_columns(result.tissue_mm3),
        # and their mean T1w intensities: the brain-volume job fills lesions with the WM's
        **{f"tissue_{k}_mean": round(q.get(f"tissue_{k}_mean", float("nan")), 2) for k in TISSUES},
        # region volumes as shares of the ICV against the atlas's
        **region_volume_extremes(
            result.labels,
            brain,
            atlas,
            table.ids,
            white_matter_map=settings.region_map == "white_matter",
        ),
        "overlay": overlay_name(o.figure),
    }
    with atomic_open(o.qc) as fh:
        pd.DataFrame([row]).to_csv(fh, sep="\t", index=False, na_rep="n/a")
    fig = label_overlay_figure(
        reference,
        result.labels,
        brain,
        title=f"sub-{subject}: atlas regions ({modality} fit, brain overlap {q['brain_dice']:.2f})",
    )
    with atomic_path(o.figure) as tmp:
        fig.savefig(tmp, dpi=90)
    log.info("%s: %s", subject, row)


if __name__ == "__main__":
    from wmhmap.antspy import registration_script

    reproducible = snakemake.params.reproducible
    with registration_script(snakemake.log[0], snakemake.threads, reproducible=reproducible) as log:
        main(log)
