def main(log):
    import json

    import nibabel as nib
    import numpy as np
    import pandas as pd

    from wmhmap.geometry import reorient_to_ras
    from wmhmap.imageio import atomic_open, same_grid
    from wmhmap.metrics import region_dice
    from wmhmap.nnunet.inference import predicted_volumes
    from wmhmap.regions import load_region_table

    row = snakemake.params.row
    subject = row["subject"]
    table = load_region_table(snakemake.input.table)
    fused = nib.load(snakemake.input.fused)
    reference = reorient_to_ras(nib.load(snakemake.input.reference))
    if not same_grid(reference, fused):
        raise RuntimeError(f"reference region map of {subject} is not on its analysis grid")
    ref = np.asarray(reference.dataobj)
    per_modality = np.asarray(nib.load(snakemake.input.modalities).dataobj)
    # a modality that was not predicted is left out; one predicted as all background
    # (an untrained model) scores 0, it must not vanish from the tables
    volumes = predicted_volumes(per_modality, json.loads(open(snakemake.input.sidecar).read()))
    maps = {
        "flair": volumes.get("FLAIR"),
        "t1": volumes.get("T1w"),
        "fused": np.asarray(fused.dataobj),
        "atlas": np.asarray(nib.load(snakemake.input.atlas).dataobj),
    }
    tables = []
    for mode, labels in maps.items():
        if labels is None:
            continue
        scores = region_dice(labels, ref, table, subject=subject)
        scores.insert(0, "mode", mode)
        scores.insert(0, "site", row.get("site", ""))
        scores.insert(0, "subject", subject)
        tables.append(scores)
    out = pd.concat(tables, ignore_index=True)
    with atomic_open(snakemake.output[0]) as fh:
        out.to_csv(fh, sep="\t", index=False, float_format="%.6g")
    log.info("%s: mean region Dice %s", subject, out.groupby("mode").dice.mean().round(3).to_dict())


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
