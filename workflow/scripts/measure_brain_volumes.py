def main(log):
    import pandas as pd

    from wmhmap.brainvolumes import (
        COLUMNS,
        brain_volumes,
        lesions_on_t1,
        tissue_mm3_from_columns,
    )
    from wmhmap.imageio import atomic_open, load_image
    from wmhmap.paths import wildcards_key
    from wmhmap.preprocess import LinearTransform

    i = snakemake.input
    subject = wildcards_key(snakemake.wildcards)
    row = {"subject": subject, **dict.fromkeys(COLUMNS, float("nan"))}
    if snakemake.params.modality != "T1w":
        # tissue classes by T1w intensity only; a FLAIR-only subject gets NaN volumes
        log.warning("sub-%s has no T1w: brain volumes left empty (n/a)", subject)
    else:
        # the atlas transform starts on the analysis grid; for a FLAIR + T1w subject
        # go back from the T1w first
        atlas_to_t1 = LinearTransform.read(i.xfm)
        t1w_to_flair = None
        if "t1w_to_flair" in i.keys():
            t1w_to_flair = LinearTransform.read(i.t1w_to_flair)
            atlas_to_t1 = t1w_to_flair.inverse().then(atlas_to_t1)
        t1 = load_image(i.native, subject=subject, role="T1w")
        # the tissue classes the atlas propagation segmented (one Atropos run per T1w);
        # with lesions to fill, the filled T1w is segmented anew
        qc = pd.read_csv(i.registration_qc, sep="\t", na_values="n/a").iloc[0]
        lesions = atlas_white_matter = None
        if "lesions" in i.keys():
            lesions = lesions_on_t1(
                load_image(
                    i.lesions, subject=subject, role="WMH mask", dtype=None, allow_constant=True
                ),
                t1,
                t1w_to_flair,
            )
            atlas_white_matter = load_image(
                i.atlas_white_matter, role="atlas white matter", dtype=None
            )
        volumes = brain_volumes(
            t1,
            load_image(i.native_brain, subject=subject, role="T1w brain mask", dtype=None),
            atlas_to_t1,
            atlas_t1=load_image(i.atlas_t1, role="atlas T1"),
            tissue_mm3=tissue_mm3_from_columns(qc),
            lesions=lesions,
            white_matter_mean=qc.get("tissue_wm_mean"),  # what lesions are filled with
            atlas_white_matter=atlas_white_matter,
            atlas_hippocampus=(
                load_image(i.atlas_hippocampus, role="atlas hippocampus", dtype=None)
                if "atlas_hippocampus" in i.keys()
                else None
            ),
        )
        row.update(volumes.as_row())
        log.info("sub-%s: %s", subject, {k: round(v) for k, v in volumes.as_row().items()})
    with atomic_open(snakemake.output[0]) as fh:
        pd.DataFrame([row]).to_csv(fh, sep="\t", index=False, na_rep="n/a", float_format="%.1f")


if __name__ == "__main__":
    from wmhmap.antspy import registration_script

    reproducible = snakemake.params.reproducible
    with registration_script(snakemake.log[0], snakemake.threads, reproducible=reproducible) as log:
        main(log)
