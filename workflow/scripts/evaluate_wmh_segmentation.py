MODES = ("flair", "t1", "mean", "fused")
"""FLAIR alone, T1w alone, the mean of both softmax maps, and the workflow's own mask
(the model's configured fusion, ``models.lesion.fusion``); then the classic masks
(``classic-<method>``, bronze) and the STAPLE consensus of those of ``classic.silver``
(``silver``)."""


def main(log):
    import json

    import nibabel as nib
    import numpy as np
    import pandas as pd

    from wmhmap.imageio import atomic_open, voxel_volume_mm3
    from wmhmap.metrics import evaluate_segmentation
    from wmhmap.nnunet.inference import predicted_volumes

    row = snakemake.params.row
    subject = row["subject"]
    reference = nib.load(snakemake.input.reference)
    ref = np.asarray(reference.dataobj)
    probabilities = nib.load(snakemake.input.modalities).get_fdata()
    volumes = predicted_volumes(probabilities, json.loads(open(snakemake.input.sidecar).read()))
    maps = {
        "flair": volumes.get("FLAIR"),
        "t1": volumes.get("T1w"),
        "mean": np.mean(list(volumes.values()), axis=0),
    }
    maps["fused"] = np.asarray(nib.load(snakemake.input.mask).dataobj, dtype=np.float32)
    classic = dict(zip(snakemake.params.classic_modes, snakemake.input.classic, strict=True))
    for mode, path in classic.items():
        maps[mode] = np.asarray(nib.load(path).dataobj, dtype=np.float32)
    voxel = voxel_volume_mm3(reference)
    rows = []
    for mode in (*MODES, *classic):
        if maps[mode] is None:
            continue
        scores = evaluate_segmentation(ref, maps[mode], affine=reference.affine, subject=subject)
        rows.append(
            {
                "subject": subject,
                "site": row.get("site", ""),
                "diagnosis": row.get("diagnosis", ""),
                "mode": mode,
                **scores,
                "reference_ml": float((ref == 1).sum() * voxel / 1000),
                "predicted_ml": float((maps[mode] >= 0.5).sum() * voxel / 1000),
            }
        )
    with atomic_open(snakemake.output[0]) as fh:
        pd.DataFrame(rows).to_csv(fh, sep="\t", index=False, float_format="%.6g")
    log.info("%s: %s", subject, {r["mode"]: round(r["dice"], 3) for r in rows})


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
