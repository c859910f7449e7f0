"""Annotation-free training on real FLAIR: the lesion network learns the classic masks.

Run: ``.venv/bin/python benchmarks/bench_real_selftraining.py [--epochs 100]
[--methods flairhyst]`` (``WMHMAP_REAL_SCANS_DIR`` and ``WMHMAP_JHU_ATLAS_DIR`` point at
``../shared/data``.)

Does a lesion network trained on a real cohort's classic masks (the workflow's
``training_mode: annotation_free``, no expert mask anywhere) beat the masks it learns
from? The cohort is every real FLAIR in ``../shared/data/real_scans``: the three of
``lesion_flair`` (scored against their experts) and the four of ``lesjak_longitudinal``
(two MS patients, two visits each, raw with neck, 3-4 mm slices; no masks). Each goes
through the workflow's steps as ``bench_real_flair`` runs them (``prepare_scan``, the JHU
atlas on the FLAIR, the classic mask of ``--methods``: with several, their STAPLE
consensus, as the workflow's silver mask is made) and is normalised as the lesion model
sees it. Trainings of the config's lesion network (FLAIR only, ``--epochs``), two at
a time, one thread each (``--variants``):

* ``cohort``: all seven scans with their classic masks, as the workflow trains on a
  cohort without experts (the scored scans are in it, through their classic masks);
* ``others``: the four longitudinal scans only (the scored scans never seen);
* ``robust``: as ``cohort``, with a loss robust to label noise (the generalised
  cross-entropy in place of the cross-entropy: ``nnUNetTrainerShortEpochsFlairFirstAdamWGCE``).

Each model segments the three scored FLAIRs (lesions restricted to the brain mask grown
by ``models.lesion.brain_margin_mm``); the bench prints Dice against every rater beside
the classic mask's own and the inter-rater Dice, and writes the rows to
``benchmarks/results/real_selftraining.tsv``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_domain_randomised import (  # noqa: E402
    add_child_options,
    lesion_settings,
    normalized,
    train_if_child,
    train_side_by_side,
)
from bench_real_flair import SCANS, expert_masks  # noqa: E402
from bench_real_regions import data_dirs, load_config, prepare_flair  # noqa: E402

UNSCORED = tuple(
    f"lesjak_longitudinal/{patient}/{visit}"
    for patient in ("patient01", "patient12")
    for visit in ("study1", "study2")
)
"""Real FLAIRs without masks: they only add to the training cohort."""
VARIANTS = {"cohort": (*SCANS, *UNSCORED), "others": UNSCORED, "robust": (*SCANS, *UNSCORED)}
DATASET_IDS = {"cohort": 831, "others": 832, "robust": 833}
TRAINERS = {"robust": "nnUNetTrainerShortEpochsFlairFirstAdamWGCE"}
"""A variant's trainer where it is not the config's lesion trainer."""


def scan_name(scan: str) -> str:
    return scan.replace("lesjak_longitudinal/", "lj").replace("/study", "v")


def teacher_name(methods: list[str]) -> str:
    """The label the models learn: one classic method, or the STAPLE of several."""
    return methods[0] if len(methods) == 1 else f"silver ({'+'.join(methods)})"


def prepare(scan: str, methods: list[str], work: str) -> str:
    """One real FLAIR: preprocessed, normalised, its classic mask and expert masks."""
    import nibabel as nib

    from wmhmap.classic import classic_mask, methods_from_config, staple
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.imageio import save_image

    name = scan_name(scan)
    out = Path(work) / "scans" / name
    if (out / "done").is_file():
        return name
    out.mkdir(parents=True, exist_ok=True)
    config = load_config()
    real = data_dirs()[0].parent
    if scan in SCANS:
        folder: Path | None = real / "lesion_flair" / scan
        path = real / "lesion_flair" / scan / "FLAIR.nii.gz"
    else:  # lesjak_longitudinal/patientNN/studyN -> patientNN/studyN_FLAIR.nii.gz
        folder, path = None, real / f"{scan}_FLAIR.nii.gz"
    prepared, propagation = prepare_flair(path, config, name)
    image = np.asarray(prepared.image.dataobj, dtype=np.float32)
    spacing = tuple(float(v) for v in prepared.image.header.get_zooms()[:3])
    classic = config["classic"]
    chosen = [m for m in methods_from_config(classic["methods"]) if m.name in methods]
    assert len(chosen) == len(methods), f"{methods}: not all in classic.methods"
    mask = staple(
        [
            classic_mask(
                image,
                np.asarray(propagation.white_matter.dataobj) > 0,
                method,
                spacing=spacing,
                brain=np.asarray(prepared.brain.dataobj) > 0,
                min_lesion_mm3=classic["min_lesion_mm3"],
            )
            for method in chosen
        ]
    ).mask
    affine = prepared.image.affine
    save_image(normalized(prepared.image, prepared.brain, config), out / "FLAIR.nii.gz")
    save_image(prepared.brain, out / "brain.nii.gz")
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), out / "classic.nii.gz")
    if folder is not None:
        for rater, expert in expert_masks(folder).items():
            truth = np.asarray(reorient_to_ras(nib.load(expert)).dataobj) > 0
            labels = nib.Nifti1Image(truth.astype(np.uint8), affine)
            nib.save(labels, out / f"expert_{rater}.nii.gz")
    (out / "done").write_text("")
    return name


def write_dataset(work: Path, variant: str, s: dict[str, Any]) -> str:
    """The variant's scans with their classic masks as labels; one fold, every scan in
    training (nnU-Net's per-epoch validation looks at the first scan again)."""
    from wmhmap.nnunet.datasets import TrainingSubject, write_raw_dataset
    from wmhmap.nnunet.env import configure, dataset_name
    from wmhmap.nnunet.plans import plan_and_preprocess

    names = [scan_name(scan) for scan in VARIANTS[variant]]
    folders = configure(work / variant / "nnunet", threads=2)
    name = dataset_name(DATASET_IDS[variant], f"RealFlair{variant.title()}")
    scans = work / "scans"
    entries = [
        TrainingSubject(n, {"FLAIR": scans / n / "FLAIR.nii.gz"}, scans / n / "classic.nii.gz")
        for n in names
    ]
    write_raw_dataset(
        folders.raw / name,
        entries,
        input_mode="single_channel",
        labels={"background": 0, "WMH": 1},
        dataset_name=name,
        description=f"real FLAIR, classic masks as labels ({variant})",
    )
    plan_and_preprocess(
        DATASET_IDS[variant],
        configuration=s["configuration"],
        plans_name=s["plans"],
        overrides=s["plans_overrides"],
        processes=2,
    )
    cases = json.loads((folders.raw / name / "dataset.json").read_text())["numTraining"]
    labels = (folders.raw / name / "labelsTr").iterdir()
    keys = sorted(p.name.removesuffix(".nii.gz") for p in labels)
    assert len(keys) == cases, (keys, cases)
    split = [{"train": keys, "val": keys[:1]}]
    (folders.preprocessed / name / "splits_final.json").write_text(json.dumps(split, indent=2))
    return name


def variant_settings(variant: str, s: dict[str, Any]) -> dict[str, Any]:
    return {**s, "trainer": TRAINERS.get(variant, s["trainer"])}


def evaluate(work: Path, variant: str, dataset: str, s: dict[str, Any]) -> list[dict]:
    import nibabel as nib

    from wmhmap.metrics import dice
    from wmhmap.nnunet.env import configure
    from wmhmap.nnunet.inference import load_model, restrict_to, segment
    from wmhmap.nnunet.training import model_folder
    from wmhmap.preprocess import dilate_mask

    cfg = load_config()["models"]["lesion"]
    folders = configure(work / variant / "nnunet", threads=2)
    folder = model_folder(folders.results, dataset, s["trainer"], s["plans"], s["configuration"])
    model = load_model(folder, device="cpu", folds=[0], tta=s["tta"])
    rows = []
    for scan in SCANS:
        scans = work / "scans" / scan
        result = segment(
            model, {"FLAIR": nib.load(scans / "FLAIR.nii.gz")}, fusion=cfg["fusion"], subject=scan
        )
        brain = nib.load(scans / "brain.nii.gz")
        allowed = dilate_mask(np.asarray(brain.dataobj) > 0, brain, cfg["brain_margin_mm"])
        mask = restrict_to(result, allowed).labels > 0
        for path in sorted(scans.glob("expert_*.nii.gz")):
            truth = np.asarray(nib.load(path).dataobj) > 0
            rater = path.name.removeprefix("expert_").removesuffix(".nii.gz")
            row = {"variant": variant, "scan": scan, "rater": rater, "dice": dice(truth, mask)}
            rows.append({**row, "ml": float(mask.sum() * np.prod(brain.header.get_zooms()) / 1000)})
    return rows


def classic_rows(work: Path, teacher: str) -> list[dict]:
    import nibabel as nib

    from wmhmap.metrics import dice

    rows = []
    for scan in SCANS:
        scans = work / "scans" / scan
        image = nib.load(scans / "classic.nii.gz")
        mask = np.asarray(image.dataobj) > 0
        experts = {
            p.name.removeprefix("expert_").removesuffix(".nii.gz"): (
                np.asarray(nib.load(p).dataobj) > 0
            )
            for p in sorted(scans.glob("expert_*.nii.gz"))
        }
        ml = float(mask.sum() * np.prod(image.header.get_zooms()) / 1000)
        for rater, truth in experts.items():
            score = dice(truth, mask)
            rows.append({"variant": teacher, "scan": scan, "rater": rater, "dice": score, "ml": ml})
        if len(experts) == 2:
            a, b = experts.values()
            rows.append({"variant": "inter-rater", "scan": scan, "rater": "-", "dice": dice(a, b)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, help="default: /tmp/wmhmap-real-selftraining[-...]")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["flairhyst"],
        help="classic.methods entries (FLAIR); several: the models learn their STAPLE",
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    add_child_options(parser)
    args = parser.parse_args()
    teacher = teacher_name(args.methods)
    suffix = "" if args.methods == ["flairhyst"] else "-" + "-".join(args.methods)
    work = (args.work or Path(f"/tmp/wmhmap-real-selftraining{suffix}")).resolve()
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    s = lesion_settings(args.epochs)
    if train_if_child(args, work, variant_settings(args.train_variant or "", s)):
        return

    start = time.perf_counter()
    every = list(dict.fromkeys(scan for v in args.variants for scan in VARIANTS[v]))
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(prepare, every, [args.methods] * len(every), [str(work)] * len(every)))
    print(f"{len(every)} real FLAIRs prepared in {time.perf_counter() - start:.0f} s")
    datasets = {v: write_dataset(work, v, s) for v in args.variants}

    print(f"{s['trainer']} {s['configuration']} {s['epochs']} epochs, {s['plans_overrides']}")
    seconds = train_side_by_side(__file__, work, args.epochs, datasets)
    print("seconds per training (two at a time):", {v: round(t) for v, t in seconds.items()})
    rows = classic_rows(work, teacher)
    rows += [
        {**row, "variant": v if suffix == "" else f"{v}, {teacher}"}
        for v in args.variants
        for row in evaluate(work, v, datasets[v], variant_settings(v, s))
    ]
    import pandas as pd

    df = pd.DataFrame(rows)
    print(df.pivot_table(index=["scan", "rater"], columns="variant", values="dice").round(3))
    for variant in dict.fromkeys(df.variant):
        scored = df[df.variant == variant]["dice"]
        print(f"{variant}: median {statistics.median(scored):.3f}, min {scored.min():.3f}")
    out = REPO / "benchmarks" / "results" / "real_selftraining.tsv"
    if out.is_file():  # keep the rows of the variants not run this time
        earlier = pd.read_csv(out, sep="\t")
        df = pd.concat([df, earlier[~earlier.variant.isin(df.variant)]], ignore_index=True)
    df.to_csv(out, sep="\t", index=False, float_format="%.4f")
    print(f"rows: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
