"""Train the region model of config/config.yaml on a demo run and score it against truth.

Run: ``.venv/bin/python benchmarks/bench_region_model.py [--results results] [--work DIR]``
(``--folds 0`` trains only those folds; ``--training '{epochs: 16}'`` changes the
region model's training settings of the config, to compare variants.)

Takes the region dataset a demo run wrote (``<results>/nnunet/raw/Dataset502_*``),
plans, preprocesses and trains every fold with the config's region settings through
the workflow's own functions (two folds at a time, one thread each), then segments
every held-out demo subject from T1w and from FLAIR with the fold ensemble and prints
the mean Dice over the 34 regions against the true maps, beside the atlas
propagation's, and seconds per fold and per subject.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

from wmhmap.nnunet.env import configure  # noqa: E402
from wmhmap.nnunet.training import model_settings  # noqa: E402

TRAINING_OVERRIDES: dict = {}
"""``--training``: settings over ``models.region.training`` of the config."""


def config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def settings() -> dict:
    # the overrides go over the region model's settings as a model's training settings
    # go over the shared ones (plans_overrides merged key by key)
    config_settings = model_settings(config()["nnunet"], config()["models"]["region"])
    return model_settings(config_settings, {"training": TRAINING_OVERRIDES})


def prepare(results: Path, work: Path) -> str:
    from wmhmap.nnunet.plans import plan_and_preprocess
    from wmhmap.nnunet.training import write_splits

    s = settings()
    (source,) = (results / "nnunet" / "raw").glob("Dataset502_*")
    folders = configure(work, threads=2)
    if not (folders.raw / source.name).exists():
        shutil.copytree(source, folders.raw / source.name)
    plan_and_preprocess(
        502,
        configuration=s["configuration"],
        plans_name=s["plans"],
        overrides=s["plans_overrides"],
        processes=2,
    )
    write_splits(
        folders.preprocessed / source.name,
        folders.raw / source.name / "dataset.json",
        s["folds"],
        s["split_seed"],
    )
    return source.name


def train(work: Path, dataset: str, fold: int) -> None:
    from wmhmap.nnunet.training import train_fold

    s = settings()
    configure(work, threads=1)
    train_fold(
        dataset,
        configuration=s["configuration"],
        fold=fold,
        trainer_name=s["trainer"],
        plans_name=s["plans"],
        device="cpu",
        epochs=s["epochs"],
        oversample_foreground=s.get("oversample_foreground", 0.33),
        validate=False,
        threads=1,
    )


def subject_file(anat: Path, subject: str, name: str) -> Path:
    """A derivative of the analysis grid (runs before the space entity lack it)."""
    for candidate in (anat / f"{subject}_space-FLAIR_{name}", anat / f"{subject}_{name}"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(anat / f"{subject}_space-FLAIR_{name}")


def mean_region_dice(predicted, truth, table) -> float:
    """Mean Dice over the regions of the table (the workflow's evaluation metric)."""
    from wmhmap.metrics import region_dice

    return float(region_dice(predicted, truth, table)["dice"].mean())


def evaluate(results: Path, work: Path, dataset: str) -> None:
    import nibabel as nib
    import numpy as np

    from wmhmap.geometry import reorient_to_ras
    from wmhmap.nnunet.inference import load_model, predict_probabilities
    from wmhmap.nnunet.training import model_folder
    from wmhmap.regions import load_region_table

    s = settings()
    table = load_region_table(REPO / config()["atlas"]["region_table"])
    folders = configure(work, threads=2)
    model = load_model(
        model_folder(folders.results, dataset, s["trainer"], s["plans"], s["configuration"]),
        device="cpu",
    )
    trained = {p.name.split("_")[0] for p in (folders.raw / dataset / "imagesTr").iterdir()}
    truths = sorted((results / "demo" / "truth").glob("sub-*/anat/*_desc-truth_dseg.nii.gz"))
    scores: dict[str, list[float]] = {"T1w": [], "FLAIR": [], "mean": [], "atlas": []}
    seconds = []
    for path in truths:
        subject = path.name.split("_")[0]
        if subject.removeprefix("sub-") in trained:
            continue
        anat = results / subject / "anat"
        atlas = nib.load(subject_file(anat, subject, "desc-atlas_dseg.nii.gz"))
        truth_image = reorient_to_ras(nib.load(path))  # some sites store LPS
        assert np.allclose(truth_image.affine, atlas.affine, atol=1e-2), subject
        truth = np.asarray(truth_image.dataobj).astype(int)
        start = time.perf_counter()
        probabilities = {}
        for modality in ("T1w", "FLAIR"):
            image = nib.load(subject_file(anat, subject, f"desc-preproc_{modality}.nii.gz"))
            probabilities[modality] = predict_probabilities(model, [image])
            predicted = np.argmax(probabilities[modality], 0)
            scores[modality].append(mean_region_dice(predicted, truth, table))
        seconds.append(time.perf_counter() - start)
        fused = (probabilities["T1w"] + probabilities["FLAIR"]) / 2
        scores["mean"].append(mean_region_dice(np.argmax(fused, 0), truth, table))
        scores["atlas"].append(mean_region_dice(np.asarray(atlas.dataobj), truth, table))
    print(f"held-out subjects: {len(seconds)}, folds: {model.folds}")
    for name, values in scores.items():
        print(f"  {name:>6}: mean region Dice {np.mean(values):.3f} +- {np.std(values):.3f}")
    print(f"  inference s per subject (median, both modalities): {statistics.median(seconds):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--work", type=Path, default=Path("/tmp/wmhmap-region-model"))
    parser.add_argument("--step", choices=["all", "fold"], default="all")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--folds", type=int, nargs="+", help="train only these folds")
    parser.add_argument("--training", type=yaml.safe_load, default={}, help="YAML mapping")
    args = parser.parse_args()
    TRAINING_OVERRIDES.update(args.training)
    if args.step == "fold":  # one fold in its own process (nnU-Net state is global)
        (dataset,) = (p.name for p in (args.work / "raw").glob("Dataset502_*"))
        train(args.work, dataset, args.fold)
        return
    results, work = args.results.resolve(), args.work.resolve()
    dataset = prepare(results, work)

    def one_fold(fold: int) -> float:
        start = time.perf_counter()
        cmd = [sys.executable, __file__, "--work", str(work), "--step", "fold"]
        cmd += ["--training", yaml.safe_dump(args.training, default_flow_style=True)]
        subprocess.run([*cmd, "--fold", str(fold)], check=True, capture_output=True)
        return time.perf_counter() - start

    with ThreadPoolExecutor(2) as pool:
        fold_seconds = list(pool.map(one_fold, args.folds or range(settings()["folds"])))
    print("seconds per fold (two at a time, one thread each):", [round(t) for t in fold_seconds])
    evaluate(results, work, dataset)


if __name__ == "__main__":
    main()
