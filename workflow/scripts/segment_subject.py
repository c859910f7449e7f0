MODALITIES = ("FLAIR", "T1w")


def main(log):
    import json
    from pathlib import Path

    from wmhmap.nnunet.env import configure, resolve_device, root_of
    from wmhmap.paths import wildcards_key

    configure(root_of(snakemake.params.models["lesion"]["folder"]), threads=snakemake.threads)
    import nibabel as nib
    import numpy as np

    from wmhmap.derivatives import bids_uri
    from wmhmap.imageio import atomic_open, like, save_image
    from wmhmap.nnunet.inference import (
        labels_from_probabilities,
        load_model,
        quantize_probability,
        restrict_to,
        segment,
    )
    from wmhmap.nnunet.sharing import model_checksums
    from wmhmap.preprocess import dilate_mask_mm

    subject = wildcards_key(snakemake.wildcards)
    images = {m: nib.load(p) for m, p in snakemake.params.images.items()}
    reference = images.get("FLAIR", next(iter(images.values())))
    out = snakemake.output

    def probability_image(p):
        # P(WMH) stored as uint8 with scale 1/255: 0.004 resolution, a tenth of float32's
        # size; thresholded at 0.5 it gives back the argmax mask
        img = like(quantize_probability(p), reference, np.uint8)
        img.header.set_slope_inter(1 / 255, 0)
        return img

    def stacked(volumes):
        return np.stack(volumes, axis=-1)

    def run(name):
        """Segment with one model ("lesion" or "region"); write its images and sidecar."""
        lesion = name == "lesion"
        settings = snakemake.params.models[name]
        n, cfg, folder = settings["nnunet"], settings["config"], Path(settings["folder"])
        model = load_model(
            folder,
            device=resolve_device(n["device"]),
            tta=n["tta"],
            tile_step_size=n["tile_step_size"],
        )
        result = segment(model, images, fusion=cfg["fusion"], per_fold=lesion, subject=subject)
        restriction = {}
        if lesion and "brain" in snakemake.input.keys():
            # WMH lie in the brain: what the model finds beyond the brain mask grown by
            # the margin (eyes, scalp, neck on FLAIR) is set to background
            margin = float(cfg["brain_margin_mm"])
            brain = nib.load(snakemake.input.brain)
            allowed = dilate_mask_mm(
                np.asarray(brain.dataobj) > 0, brain.header.get_zooms()[:3], margin
            )
            before = int(result.labels.astype(bool).sum())
            result = restrict_to(result, allowed)
            removed = before - int(result.labels.astype(bool).sum())
            restriction = {"brain_margin_mm": margin, "voxels_outside_brain_removed": removed}
            log.info(
                "%s: %d lesion voxels beyond the brain mask + %g mm removed",
                subject,
                removed,
                margin,
            )
        if lesion:
            per_modality = [
                result.per_modality[m][1]
                if m in result.per_modality
                else np.zeros(reference.shape, np.float32)
                for m in MODALITIES
            ]
            save_image(probability_image(stacked(per_modality)), out.lesion_modalities)
            save_image(probability_image(stacked(list(result.per_fold[:, 1]))), out.lesion_folds)
            save_image(probability_image(result.probabilities[1]), out.probability)
            save_image(like(result.labels, reference, np.uint8), out.mask)
        else:
            per_modality = [
                labels_from_probabilities(result.per_modality[m])
                if m in result.per_modality
                else np.zeros(reference.shape, np.uint8)
                for m in MODALITIES
            ]
            save_image(like(stacked(per_modality), reference, np.uint8), out.region_modalities)
            save_image(like(result.labels, reference, np.uint8), out.labels)
        sidecar_path = out.lesion_sidecar if lesion else out.region_sidecar
        sidecar = {
            "Sources": [bids_uri(p, sidecar_path) for p in snakemake.params.images.values()],
            "model": str(folder),
            "folds": model.folds,
            "model_sha256": model_checksums(Path(snakemake.input[f"{name}_model"][0])),
            "fusion": cfg["fusion"],
            "modalities_used": result.used,
            "modalities_missing": result.missing,
            "modalities_predicted": sorted(result.per_modality),
            "flagged": bool(result.missing),
            "modality_volumes": list(MODALITIES),
            "test_time_augmentation": n["tta"],
            **restriction,
        }
        with atomic_open(sidecar_path) as fh:
            json.dump(sidecar, fh, indent=2)
        if result.missing:
            log.warning(
                "%s: %s missing; %s model segmented from %s",
                subject,
                result.missing,
                name,
                result.used,
            )

    for name in snakemake.params.models:  # the region model only when it is used
        run(name)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
