"""Both nnU-Net models trained on real scans, 5-fold cross-validation, against the study.

Run: ``.venv/bin/python benchmarks/bench_real_training.py [--models lesion region]
[--parallel 2] [--configfile config/real_cpu.yaml] [--training '{lesion: {epochs: 100}}']
[--device cpu|cuda] [--nnunet-recipe]``
(``WMHMAP_REAL_SCANS_DIR`` points at ``../shared/data/real_scans``, its default.)

On the 20 MICCAI 2017 WMH-challenge training subjects of
``wmh_challenge_train`` (three scanners; the T1 on the FLAIR grid -- the FLAIRs could
not be had, and T1 is the study's weaker input) it runs the workflow's own steps:

1. ``prepare_scan`` (RAS, deepbet brain mask, N4) and ``normalize_percentiles`` inside
   the brain mask grown by ``preprocess.brain_mask_dilation_mm``, as the
   ``correct_bias_n4`` and ``normalize_intensity`` rules do;
2. a raw nnU-Net dataset per model (``write_raw_dataset``): the lesion model learns
   ``wmh.nii.gz`` (2 = other pathology is nnU-Net's ignore label, as in the workflow),
   the region model ``regions_study.nii.gz``, the study's own region maps (what a
   sample sheet's ``region_map`` column gives the workflow);
3. ``plan_and_preprocess`` and ``write_splits`` (5 folds grouped by subject) with the
   config's settings of each model (``--configfile`` merged into config/config.yaml as
   Snakemake merges it, ``--training`` over the model's settings), and one
   ``train_fold`` per fold, ``--parallel`` folds at a time, one thread each;
4. each subject segmented by the fold that did not see it (``load_model`` /
   ``segment`` with the model's fusion; lesions restricted to the brain mask grown by
   ``models.lesion.brain_margin_mm``), scored with the workflow's metrics: the
   challenge metrics (Dice, HD95, AVD, lesion recall and F1) against ``wmh.nii.gz`` and
   the mean Dice of the 34 regions against ``regions_study``.

Prints per fold and overall (median and mean over subjects) beside the study's table
(T1 input: lesion Dice 0.59, region Dice 0.81), with seconds per fold, and writes the
per-subject rows to ``benchmarks/results/real_training_<recipe>.tsv`` (``--name``
overrides ``<recipe>``).
``--nnunet-recipe`` uses nnU-Net's own recipe (nnUNetTrainer; for the region model
wmhmap's nnUNetTrainerLateralised, nnU-Net's without mirroring or half turns;
nnUNetPlans, 3d_fullres, 1000 epochs): a GPU job (``--device cuda``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CHALLENGE = "wmh_challenge_train"
DATASET_IDS = {"lesion": 801, "region": 802}
STUDY = {"lesion": 0.59, "region": 0.81}
"""The study's T1-input Dice (its table): lesions, regions."""
NNUNET_RECIPE = {
    "lesion": {
        "trainer": "nnUNetTrainer",
        "plans": "nnUNetPlans",
        "configuration": "3d_fullres",
        "plans_overrides": {},
        "epochs": 1000,
    },
    "region": {
        "trainer": "nnUNetTrainerLateralised",
        "plans": "nnUNetPlans",
        "configuration": "3d_fullres",
        "plans_overrides": {},
        "epochs": 1000,
    },
}


def scans_dir() -> Path:
    return Path(os.environ.get("WMHMAP_REAL_SCANS_DIR", SHARED / "real_scans")) / CHALLENGE


CONFIG_FILES: list[Path] = []  # --configfile: merged into config/config.yaml


def config() -> dict[str, Any]:
    """config/config.yaml with each ``--configfile`` merged into it key by key, as
    Snakemake does."""
    from snakemake.utils import update_config

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for path in CONFIG_FILES:
        update_config(cfg, yaml.safe_load(path.read_text()))
    return cfg


def settings(model: str, overrides: dict[str, Any], nnunet_recipe: bool) -> dict[str, Any]:
    """The config's settings of a model (nnunet section, the model's training over it),
    then nnU-Net's own recipe (``--nnunet-recipe``) or the ``--training`` overrides."""
    from wmhmap.nnunet.training import model_settings

    cfg = config()
    s = model_settings(cfg["nnunet"], cfg["models"][model])
    s["plans_overrides"] = {} if nnunet_recipe else s["plans_overrides"]
    extra = NNUNET_RECIPE[model] if nnunet_recipe else {}
    s = model_settings(s, {"training": {**extra, **overrides.get(model, {})}})
    s["folds"] = 5
    return s


def preprocess_subject(subject: str, work: str) -> str:
    """One subject through the workflow's preprocessing; files cached under ``work``."""
    import nibabel as nib

    from wmhmap.geometry import reorient_to_ras
    from wmhmap.imageio import save_image
    from wmhmap.preprocess import N4Settings, dilate_mask, normalize_percentiles, prepare_scan

    out = Path(work) / "scans" / subject
    if (out / "done").is_file():
        return subject
    out.mkdir(parents=True, exist_ok=True)
    cfg = config()["preprocess"]
    folder = scans_dir() / subject
    scan = prepare_scan(
        nib.load(folder / "T1.nii.gz"), N4Settings.from_config(cfg["n4"]), subject=subject
    )
    brain = np.asarray(scan.brain.dataobj) > 0
    grown = dilate_mask(brain, scan.brain, cfg["brain_mask_dilation_mm"])
    low, high = cfg["normalize_percentiles"]
    save_image(normalize_percentiles(scan.image, grown, low, high), out / "T1w.nii.gz")
    save_image(scan.brain, out / "brain.nii.gz")
    for name, source in (("lesion", "wmh.nii.gz"), ("region", "regions_study.nii.gz")):
        label = reorient_to_ras(nib.load(folder / source))
        data = np.asarray(label.dataobj).astype(np.uint8)
        nib.save(nib.Nifti1Image(data, scan.image.affine), out / f"{name}.nii.gz")
    (out / "done").write_text("")
    return subject


def write_dataset(work: Path, model: str, subjects: list[str], s: dict[str, Any]) -> str:
    import nibabel as nib

    from wmhmap.nnunet.datasets import TrainingSubject, lesion_labels, region_labels
    from wmhmap.regions import load_region_table

    entries = [
        TrainingSubject(
            f"s{subject}",
            {"T1w": work / "scans" / subject / "T1w.nii.gz"},
            work / "scans" / subject / f"{model}.nii.gz",
        )
        for subject in subjects
    ]
    arrays = [np.asarray(nib.load(e.label).dataobj) for e in entries]
    labels = (
        lesion_labels(arrays)
        if model == "lesion"
        else region_labels(load_region_table().ids.tolist(), arrays)
    )
    return plan_dataset(
        work,
        DATASET_IDS[model],
        f"Real{model.title()}",
        entries,
        labels,
        f"real {model} labels, WMH challenge training subjects (T1)",
        s,
    )


def plan_dataset(
    work: Path,
    dataset_id: int,
    title: str,
    entries: list[Any],
    labels: dict[str, int],
    description: str,
    s: dict[str, Any],
) -> str:
    """A raw single-channel nnU-Net dataset under ``work/nnunet``, planned and
    preprocessed with the settings ``s``, split in 5 folds by subject; its name."""
    from wmhmap.nnunet.datasets import write_raw_dataset
    from wmhmap.nnunet.env import configure, dataset_name
    from wmhmap.nnunet.plans import plan_and_preprocess
    from wmhmap.nnunet.training import write_splits

    folders = configure(work / "nnunet", threads=2)
    name = dataset_name(dataset_id, title)
    write_raw_dataset(
        folders.raw / name,
        entries,
        input_mode="single_channel",
        labels=labels,
        dataset_name=name,
        description=description,
    )
    plan_and_preprocess(
        dataset_id,
        configuration=s["configuration"],
        plans_name=s["plans"],
        overrides=s["plans_overrides"],
        processes=2,
    )
    write_splits(folders.preprocessed / name, folders.raw / name / "dataset.json", 5, 0)
    return name


def train(work: Path, dataset: str, fold: int, s: dict[str, Any], device: str) -> None:
    from wmhmap.nnunet.env import configure
    from wmhmap.nnunet.training import train_fold

    configure(work / "nnunet", threads=1)
    train_fold(
        dataset,
        configuration=s["configuration"],
        fold=fold,
        trainer_name=s["trainer"],
        plans_name=s["plans"],
        device=device,
        epochs=s["epochs"],
        oversample_foreground=s.get("oversample_foreground", 0.33),
        validate=False,
        threads=1,
        seed=0,
        compile=s.get("compile"),
        collapse_retries=s.get("collapse_retries", 0),
    )


def evaluate(work: Path, model: str, dataset: str, s: dict[str, Any], device: str) -> list[dict]:
    """Each subject segmented by the fold that held it out, scored as the workflow scores."""
    import nibabel as nib

    from wmhmap.metrics import evaluate_segmentation, region_dice
    from wmhmap.nnunet.env import configure
    from wmhmap.nnunet.inference import load_model, restrict_to, segment
    from wmhmap.nnunet.training import model_folder
    from wmhmap.preprocess import dilate_mask
    from wmhmap.regions import load_region_table

    folders = configure(work / "nnunet", threads=2)
    cfg = config()["models"][model]
    table = load_region_table()
    splits = json.loads((folders.preprocessed / dataset / "splits_final.json").read_text())
    folder = model_folder(folders.results, dataset, s["trainer"], s["plans"], s["configuration"])
    rows = []
    for fold, split in enumerate(splits):
        loaded = load_model(folder, device=device, folds=[fold], tta=s["tta"])
        for case in split["val"]:
            subject = case.split("_")[0].removeprefix("s")
            scans = work / "scans" / subject
            image = nib.load(scans / "T1w.nii.gz")
            result = segment(loaded, {"T1w": image}, fusion=cfg["fusion"], subject=subject)
            reference = np.asarray(nib.load(scans / f"{model}.nii.gz").dataobj)
            row: dict[str, Any] = {"model": model, "subject": subject, "fold": fold}
            if model == "lesion":
                margin = cfg["brain_margin_mm"]
                if margin is not None:
                    brain = nib.load(scans / "brain.nii.gz")
                    result = restrict_to(
                        result, dilate_mask(np.asarray(brain.dataobj) > 0, brain, margin)
                    )
                row.update(
                    evaluate_segmentation(
                        reference, result.labels, affine=image.affine, subject=subject
                    )
                )
                voxel_ml = float(np.prod(image.header.get_zooms()[:3])) / 1000
                row["expert_ml"] = float((reference == 1).sum()) * voxel_ml
                row["predicted_ml"] = float(result.labels.astype(bool).sum()) * voxel_ml
            else:
                row["dice"] = float(region_dice(result.labels, reference, table)["dice"].mean())
            rows.append(row)
    return rows


def summary(rows: list[dict], model: str) -> None:
    import pandas as pd

    df = pd.DataFrame([r for r in rows if r["model"] == model])
    metrics = (
        ["dice", "hd95", "avd", "lesion_recall", "lesion_f1"] if model == "lesion" else ["dice"]
    )
    print(f"\n{model} model (T1), held-out subjects; the study's Dice: {STUDY[model]}")
    by_fold = df.groupby("fold")[metrics].median().round(3)
    print("median per fold:\n" + by_fold.to_string())
    print("all subjects:")
    for m in metrics:
        print(f"  {m:>14}: median {df[m].median():.3f}  mean {df[m].mean():.3f}")
    if model == "lesion":
        r = np.corrcoef(df.expert_ml, df.predicted_ml)[0, 1]
        print(f"  volume r (predicted vs expert mL): {r:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/wmhmap-real-training"))
    parser.add_argument("--models", nargs="+", default=["lesion", "region"])
    parser.add_argument("--parallel", type=int, default=2, help="folds trained at a time")
    parser.add_argument(
        "--configfile",
        type=Path,
        action="append",
        default=[],
        help="merged into config/config.yaml (e.g. config/real_cpu.yaml)",
    )
    parser.add_argument("--training", type=yaml.safe_load, default={}, help="YAML mapping")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--nnunet-recipe", action="store_true")
    parser.add_argument("--name", help="results file suffix (default: cpu or nnunet)")
    parser.add_argument("--fold", type=int, help=argparse.SUPPRESS)  # one fold, own process
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work.resolve()
    CONFIG_FILES.extend(path.resolve() for path in args.configfile)
    if args.fold is not None:  # nnU-Net keeps global state: each fold in its own process
        (model,) = args.models
        s = settings(model, args.training, args.nnunet_recipe)
        train(work, args.dataset, args.fold, s, args.device)
        return

    subjects = sorted(p.name for p in scans_dir().iterdir() if (p / "T1.nii.gz").is_file())
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(preprocess_subject, subjects, [str(work)] * len(subjects)))
    print(f"{len(subjects)} subjects preprocessed in {time.perf_counter() - start:.0f} s")
    rows: list[dict] = []
    recipe = args.name or ("nnunet" if args.nnunet_recipe else "cpu")
    for model in args.models:
        s = settings(model, args.training, args.nnunet_recipe)
        print(
            f"{model}: {s['trainer']} {s['configuration']} {s['epochs']} epochs, "
            f"plans overrides {s['plans_overrides']}"
        )
        dataset = write_dataset(work, model, subjects, s)

        def one_fold(fold: int, model: str = model, dataset: str = dataset) -> float:
            begin = time.perf_counter()
            cmd = [sys.executable, __file__, "--work", str(work), "--models", model]
            cmd += ["--training", yaml.safe_dump(args.training, default_flow_style=True)]
            cmd += [arg for path in CONFIG_FILES for arg in ("--configfile", str(path))]
            cmd += ["--device", args.device, "--dataset", dataset, "--fold", str(fold)]
            cmd += ["--nnunet-recipe"] if args.nnunet_recipe else []
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"fold {fold} of {model}: {done.stderr[-2000:]}")
            return time.perf_counter() - begin

        with ThreadPoolExecutor(args.parallel) as pool:
            seconds = list(pool.map(one_fold, range(5)))
        per_fold = [round(t) for t in seconds]
        print(f"{model}: seconds per fold ({args.parallel} at a time): {per_fold}")
        rows += evaluate(work, model, dataset, s, args.device)
        summary(rows, model)
    out = REPO / "benchmarks" / "results" / f"real_training_{recipe}.tsv"
    import pandas as pd

    pd.DataFrame(rows).to_csv(out, sep="\t", index=False, float_format="%.4f")
    print(f"per-subject rows: {out.relative_to(REPO)}")
    print(
        "median Dice:",
        {
            m: round(statistics.median(r["dice"] for r in rows if r["model"] == m), 3)
            for m in args.models
        },
    )


if __name__ == "__main__":
    main()
