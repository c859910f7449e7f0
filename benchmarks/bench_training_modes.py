"""Held-out lesion Dice of the three training modes with few expert masks.

Run: ``.venv/bin/python benchmarks/bench_training_modes.py [--folder F] [--subjects 16]
[--gold 4] [--folds 4] [--train-seeds 0 1 2] [--bronze-methods flairhyst] [--from R]
[--stage-trainer T] [--classic-use flairz flairpct t1z]``

Runs the workflow on the demo cohort once per training mode and training seed
(``nnunet.seed``), with only ``--gold`` subjects' expert masks for training:
``models.lesion.training_mode`` gold, staged and annotation_free. The first run's
preprocessing (or that of the results folder ``--from``) is copied into the others.
Each run stops at the per-subject WMH evaluation tables of the held-out subjects; then
prints, per mode, the held-out Dice / HD95 / AVD of the workflow's mask (``fused``)
over all seeds, each seed's median Dice, how often staged beats gold on the same
subject and seed, and the classic masks' scores. Every other setting is
config/config.yaml's (CPU-sized training). Goal: staged > gold. The rows go to
``training_modes.tsv`` in ``--folder``, beside those of earlier calls for other modes
and seeds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
MODES = ("gold", "staged", "annotation_free")
# What a training mode changes: everything the lesion model makes and what scores it.
MODEL_OUTPUTS = ("desc-wmh_mask", "label-WMH_probseg", "label-WMH_desc-", "desc-wmhevaluation")
KEEP = ("desc-truth", "desc-reference", "desc-silver")
KEEP += ("desc-flairz", "desc-flairhyst", "desc-flairpct", "desc-t1z")


def held_out(subjects: int, gold: int, seed: int) -> list[str]:
    from wmhmap.demo.cohort import CohortDesign, demo_cohort

    cohort = demo_cohort(CohortDesign(n_subjects=subjects, n_train=gold, seed=seed))
    return cohort.loc[cohort.split != "train", "subject"].tolist()


def copy_preprocessing(source: Path, target: Path) -> None:
    """The first run's results without the lesion model and what it made."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        if Path(folder) == source:
            return [n for n in names if n in ("nnunet", "group", "logs", "benchmarks")]
        return [
            n for n in names if any(k in n for k in MODEL_OUTPUTS) and not any(k in n for k in KEEP)
        ]

    shutil.copytree(source, target, ignore=ignore, symlinks=True)


def run(
    folder: Path, mode: str, seed: int | None, args: argparse.Namespace, subjects: list[str]
) -> float:
    lesion: dict = {"training_mode": mode}
    stages: dict = {"bronze": {}, "silver": {}}
    if args.bronze_methods is not None:
        stages["bronze"]["methods"] = args.bronze_methods
    if args.stage_trainer:
        for stage in stages.values():
            stage["training"] = {"trainer": args.stage_trainer}
    lesion["stages"] = stages
    config: dict = {
        "results": str(folder),
        "demo": {"n_subjects": args.subjects, "n_train": args.gold, "seed": args.seed},
        "nnunet": {"folds": args.folds, "seed": seed},
        "models": {"lesion": lesion},
    }
    if args.classic_use is not None:
        config["classic"] = {"use": args.classic_use}
    targets = [f"{folder}/sub-{s}/qc/sub-{s}_desc-wmhevaluation_stats.tsv" for s in subjects]
    config_file = folder.with_suffix(".yaml")
    config_file.write_text(json.dumps(config))
    command = [SNAKEMAKE, "--cores", str(args.cores), "--configfile", str(config_file)]
    start = time.perf_counter()
    with folder.with_suffix(".log").open("w") as log:
        subprocess.run(
            [*command, "--", *targets],
            cwd=REPO,
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/wmhmap-training-modes"))
    parser.add_argument("--subjects", type=int, default=16)
    parser.add_argument("--gold", type=int, default=4, help="subjects with expert masks")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42, help="the demo cohort's seed")
    parser.add_argument(
        "--train-seeds",
        nargs="+",
        type=int,
        default=[None],
        help="nnunet.seed of each run (default: one unseeded run per mode)",
    )
    parser.add_argument(
        "--bronze-methods",
        nargs="*",
        default=None,
        help="models.lesion.stages.bronze.methods (default: config/config.yaml's)",
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="results folder of the same demo whose preprocessing every run copies",
    )
    parser.add_argument(
        "--stage-trainer",
        default=None,
        help="the bronze and silver stages' trainer (runs go to folders named after it)",
    )
    parser.add_argument(
        "--classic-use",
        nargs="+",
        default=None,
        help="classic.use (default: config/config.yaml's; before 2026-12-06 it was "
        "flairz flairpct t1z)",
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    args = parser.parse_args()
    subjects = held_out(args.subjects, args.gold, args.seed)
    args.folder.mkdir(parents=True, exist_ok=True)
    rows = []
    source = args.source
    for seed in args.train_seeds:
        for mode in args.modes:
            name = mode if seed is None else f"{mode}-seed{seed}"
            if args.stage_trainer and mode != "gold":
                name += f"-{args.stage_trainer}"
            folder = args.folder / name
            if source is not None and not folder.exists():
                copy_preprocessing(source, folder)
            seconds = run(folder, mode, seed, args, subjects)
            source = source or folder
            print(f"{mode}, seed {seed}: {seconds / 60:.1f} min", flush=True)
            for s in subjects:
                table = pd.read_csv(
                    folder / f"sub-{s}" / "qc" / f"sub-{s}_desc-wmhevaluation_stats.tsv",
                    sep="\t",
                )
                rows.append(table.assign(training=mode, seed="none" if seed is None else seed))
    metrics = pd.concat(rows, ignore_index=True)
    model = metrics[metrics["mode"] == "fused"]
    summary = model.groupby("training").agg(
        n=("dice", "size"),
        dice_median=("dice", "median"),
        dice_mean=("dice", "mean"),
        dice_sd=("dice", "std"),
        hd95_median=("hd95", "median"),
        avd_median=("avd", "median"),
    )
    print(
        f"\nnnU-Net lesion model on {len(subjects)} held-out subjects x "
        f"{len(args.train_seeds)} training seeds, {args.gold} gold masks:"
    )
    print(summary.reindex([m for m in args.modes]).round(3).to_string())
    per_seed = model.pivot_table(
        index="seed", columns="training", values="dice", aggfunc="median", dropna=False
    )
    print("\nmedian Dice per training seed:")
    print(per_seed.reindex(columns=list(args.modes)).round(3).to_string())
    first = (metrics["training"] == args.modes[0]) & (metrics["seed"] == metrics["seed"].iloc[0])
    classic = metrics[first & (metrics["mode"] != "fused")]
    classic = classic[classic["mode"].str.startswith("classic-") | (classic["mode"] == "silver")]
    print("\nclassic masks (no training) on the same subjects:")
    print(
        classic.groupby("mode")
        .agg(
            dice_median=("dice", "median"),
            hd95_median=("hd95", "median"),
            avd_median=("avd", "median"),
        )
        .round(3)
        .to_string()
    )
    if {"gold", "staged"} <= set(args.modes):
        ratio = summary.loc["staged", "dice_median"] / summary.loc["gold", "dice_median"]
        print(f"\nratio staged / gold median Dice: {ratio:.3f} (goal > 1)")
        paired = model.pivot_table(index=["seed", "subject"], columns="training", values="dice")
        wins = int((paired["staged"] > paired["gold"]).sum())
        print(f"staged beats gold on {wins} of {len(paired)} (seed, subject) pairs")
    write_table(metrics, args.folder / "training_modes.tsv")


def write_table(metrics: pd.DataFrame, path: Path) -> None:
    """Write the rows of this call, keeping those of earlier calls into the same folder
    for other (training mode, seed) pairs."""
    if path.is_file():
        earlier = pd.read_csv(path, sep="\t", dtype={"seed": str})
        ran = set(zip(metrics["training"], metrics["seed"].astype(str), strict=True))
        keep = [
            (mode, seed) not in ran
            for mode, seed in zip(earlier["training"], earlier["seed"], strict=True)
        ]
        metrics = pd.concat([earlier[keep], metrics], ignore_index=True)
    metrics.to_csv(path, sep="\t", index=False)


if __name__ == "__main__":
    main()
