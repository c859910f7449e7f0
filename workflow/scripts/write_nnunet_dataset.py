def main(log):
    from pathlib import Path

    from wmhmap.nnunet.env import configure, root_of

    configure(root_of(snakemake.output[0]), threads=snakemake.threads)
    import nibabel as nib
    import numpy as np

    from wmhmap.nnunet.datasets import (
        TrainingSubject,
        lesion_labels,
        region_labels,
        write_raw_dataset,
    )
    from wmhmap.regions import load_region_table

    subjects = [
        TrainingSubject(
            entry["subject"],
            {m: Path(p) for m, p in entry["images"].items()},
            Path(entry["label"]),
            variant=entry["variant"],
        )
        for entry in snakemake.params.subjects
    ]
    stage = snakemake.params.stage
    if snakemake.params.model == "lesion":
        labels = lesion_labels([np.asarray(nib.load(s.label).dataobj) for s in subjects])
        description = {
            "gold": "White matter hyperintensities (1) from expert masks",
            "bronze": "White matter hyperintensities (1) from classic segmenters (bronze)",
            "silver": "White matter hyperintensities (1) from STAPLE of classic masks (silver)",
        }[stage]
    else:
        labels = region_labels(
            load_region_table().ids.tolist(),
            [np.asarray(nib.load(s.label).dataobj) for s in subjects],
        )
        description = "34 white-matter regions (given region maps, else the atlas propagation)"
    dataset = write_raw_dataset(
        Path(snakemake.output[0]),
        subjects,
        input_mode=snakemake.params.input_mode,
        labels=labels,
        dataset_name=snakemake.wildcards.dataset,
        description=description,
    )
    log.info(
        "%s: %d cases from %d subjects",
        snakemake.wildcards.dataset,
        len(dataset.cases),
        len(subjects),
    )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
