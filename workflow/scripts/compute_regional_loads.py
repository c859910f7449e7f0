import sys


def main(log):
    import nibabel as nib
    import numpy as np

    from wmhmap.imageio import voxel_volume_mm3
    from wmhmap.loads import regional_loads_from_files, summarize_loads, write_loads_tsv
    from wmhmap.paths import wildcards_key
    from wmhmap.regions import load_region_table

    subject = wildcards_key(snakemake.wildcards)
    brain = nib.load(snakemake.input.brain)
    # Intracranial volume: the atlas brain outline carried to the subject (tissue + CSF).
    icv = float((np.asarray(brain.dataobj) > 0).sum()) * voxel_volume_mm3(brain)
    loads = regional_loads_from_files(
        snakemake.input.lesions,
        snakemake.input.regions,
        load_region_table(snakemake.input.table),
        subject=subject,
        icv_mm3=icv,
    )
    write_loads_tsv(loads, snakemake.output.long)
    summaries = summarize_loads(loads, icv_mm3=icv)
    write_loads_tsv(summaries, snakemake.output.summary)
    summary = summaries.iloc[0]
    log.info(
        "%s: %.0f mm3 of WMH, %.0f mm3 outside the regions",
        subject,
        summary.global_mm3,
        summary.outside_mm3,
    )


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
