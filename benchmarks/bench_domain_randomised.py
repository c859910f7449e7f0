"""The demo's lesion model trained on domain-randomised phantoms, scored on real FLAIR.

Run: ``.venv/bin/python benchmarks/bench_domain_randomised.py [--subjects 30]
[--epochs 100] [--variants demo randomised]``
(``WMHMAP_REAL_SCANS_DIR`` and ``WMHMAP_JHU_ATLAS_DIR`` point at ``../shared/data``.)

Does a lesion model that learnt only from phantoms transfer to real FLAIR once the
phantoms stop looking like one scanner? For each variant the same ``--subjects``
phantoms (same anatomy, lesions and seeds; the demo's template, lesion and anatomy
models) are imaged by

* ``demo``: the demo's three scanner profiles (config/config.yaml ``demo:``);
* ``randomised``: a new random scanner per subject, as the demo's ``scanners:
  randomised`` draws them (``wmhmap.demo.simulate.randomised_profile``: FLAIR contrast
  with lesions 1.15-2.2x and grey matter 0.95-1.45x white matter, in-plane voxels
  0.9-1.5 mm and slices 1-6 mm, bias amplitude 0-0.4, noise 1-8 % of the white-matter
  signal, gain 300-3000); the T1w, unused here, stays at 1.5 mm.

Each FLAIR goes through the workflow's preprocessing (``prepare_scan``: RAS, deepbet,
N4; ``normalize_percentiles`` inside the brain mask grown by
``preprocess.brain_mask_dilation_mm``), becomes an nnU-Net dataset (FLAIR only, the
config's lesion settings, ``--epochs``) and trains fold 0 of 5 (both variants at a time,
one thread each). Each model then segments its held-out phantoms and the three real
FLAIRs of ``real_scans/lesion_flair`` (prepared as ``bench_real_flair`` prepares them;
lesions restricted to the brain mask grown by ``models.lesion.brain_margin_mm``), and
the bench prints Dice against every rater beside the inter-rater Dice.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_real_flair import SCANS, expert_masks  # noqa: E402
from bench_real_regions import data_dirs, load_config, prepare_flair  # noqa: E402
from bench_real_training import plan_dataset, train  # noqa: E402

DATASET_IDS = {"demo": 821, "randomised": 822}


def normalized(image: Any, brain: Any, config: dict) -> Any:
    """The ``normalize_intensity`` rule's FLAIR: percentiles inside the grown brain."""
    from wmhmap.preprocess import dilate_mask, normalize_percentiles

    pre = config["preprocess"]
    grown = dilate_mask(np.asarray(brain.dataobj) > 0, brain, pre["brain_mask_dilation_mm"])
    low, high = pre["normalize_percentiles"]
    return normalize_percentiles(image, grown, low, high)


def make_phantom(variant: str, index: int, work: str) -> str:
    """One phantom FLAIR, imaged as ``variant`` says, through the preprocessing."""
    import nibabel as nib

    from wmhmap.demo import models_from_config
    from wmhmap.demo.anatomy import load_template
    from wmhmap.demo.atlas import parcellate_white_matter
    from wmhmap.demo.cohort import DIAGNOSES, site_name
    from wmhmap.demo.simulate import SubjectSpec, randomised_profile, simulate_subject
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.imageio import save_image
    from wmhmap.preprocess import N4Settings, prepare_scan

    subject = f"p{index:02d}"
    out = Path(work) / variant / "scans" / subject
    if (out / "done").is_file():
        return subject
    out.mkdir(parents=True, exist_ok=True)
    config = load_config()
    demo = config["demo"]
    site = site_name(index % demo["n_sites"])
    profile, lesion_model, anatomy_model = models_from_config(demo, site)
    if variant == "randomised":
        drawn = randomised_profile(np.random.default_rng([index, 7]))
        profile = dataclasses.replace(drawn, t1_voxel_mm=(1.5, 1.5, 1.5))
    template = load_template()
    spec = SubjectSpec(subject, DIAGNOSES[index % 3], site, 72.0, 1000 + index)
    phantom = simulate_subject(
        template, parcellate_white_matter(template), spec, profile, lesion_model, anatomy_model
    )
    scan = prepare_scan(
        phantom.flair, N4Settings.from_config(config["preprocess"]["n4"]), subject=subject
    )
    save_image(normalized(scan.image, scan.brain, config), out / "FLAIR.nii.gz")
    save_image(scan.brain, out / "brain.nii.gz")
    mask = np.asarray(reorient_to_ras(phantom.lesion_mask).dataobj).astype(np.uint8)
    nib.save(nib.Nifti1Image(mask, scan.image.affine), out / "lesion.nii.gz")
    (out / "done").write_text("")
    return subject


def prepare_real(scan: str, work: str) -> str:
    """A real FLAIR through the preprocessing, normalised as the lesion model sees it."""
    import nibabel as nib

    from wmhmap.geometry import reorient_to_ras
    from wmhmap.imageio import save_image

    out = Path(work) / "real" / scan
    if (out / "done").is_file():
        return scan
    out.mkdir(parents=True, exist_ok=True)
    config = load_config()
    folder = data_dirs()[0].parent / "lesion_flair" / scan
    prepared, _ = prepare_flair(folder / "FLAIR.nii.gz", config, scan)
    save_image(normalized(prepared.image, prepared.brain, config), out / "FLAIR.nii.gz")
    save_image(prepared.brain, out / "brain.nii.gz")
    for rater, path in expert_masks(folder).items():
        mask = np.asarray(reorient_to_ras(nib.load(path)).dataobj) > 0
        labels = nib.Nifti1Image(mask.astype(np.uint8), prepared.image.affine)
        nib.save(labels, out / f"{rater}.nii.gz")
    (out / "done").write_text("")
    return scan


def lesion_settings(epochs: int) -> dict[str, Any]:
    from wmhmap.nnunet.training import model_settings

    config = load_config()
    s = model_settings(config["nnunet"], config["models"]["lesion"])
    s["epochs"] = epochs
    return s


def write_dataset(work: Path, variant: str, subjects: list[str], s: dict[str, Any]) -> str:
    import nibabel as nib

    from wmhmap.nnunet.datasets import TrainingSubject, lesion_labels

    scans = work / variant / "scans"
    entries = [
        TrainingSubject(s_, {"FLAIR": scans / s_ / "FLAIR.nii.gz"}, scans / s_ / "lesion.nii.gz")
        for s_ in subjects
    ]
    labels = lesion_labels([np.asarray(nib.load(e.label).dataobj) for e in entries])
    return plan_dataset(
        work / variant,
        DATASET_IDS[variant],
        f"Phantom{variant.title()}",
        entries,
        labels,
        f"phantom FLAIR lesions, {variant} scanners",
        s,
    )


def evaluate(work: Path, variant: str, dataset: str, s: dict[str, Any]) -> list[dict]:
    """Dice on the held-out phantoms of fold 0 and on each real FLAIR against each rater."""
    import json

    import nibabel as nib

    from wmhmap.metrics import dice
    from wmhmap.nnunet.env import configure
    from wmhmap.nnunet.inference import load_model, restrict_to, segment
    from wmhmap.nnunet.training import model_folder
    from wmhmap.preprocess import dilate_mask

    config = load_config()
    folders = configure(work / variant / "nnunet", threads=2)
    cfg = config["models"]["lesion"]
    split = json.loads((folders.preprocessed / dataset / "splits_final.json").read_text())[0]
    folder = model_folder(folders.results, dataset, s["trainer"], s["plans"], s["configuration"])
    model = load_model(folder, device="cpu", folds=[0], tta=s["tta"])

    def predicted(folder: Path, subject: str) -> np.ndarray:
        image = nib.load(folder / "FLAIR.nii.gz")
        result = segment(model, {"FLAIR": image}, fusion=cfg["fusion"], subject=subject)
        brain = nib.load(folder / "brain.nii.gz")
        allowed = dilate_mask(np.asarray(brain.dataobj) > 0, brain, cfg["brain_margin_mm"])
        return restrict_to(result, allowed).labels > 0

    rows = []
    phantoms = sorted({case.split("_")[0] for case in split["val"]})
    for subject in phantoms:
        folder_ = work / variant / "scans" / subject
        truth = np.asarray(nib.load(folder_ / "lesion.nii.gz").dataobj) == 1
        rows.append(
            {
                "variant": variant,
                "scan": "phantoms",
                "rater": subject,
                "dice": dice(truth, predicted(folder_, subject)),
            }
        )
    for scan in SCANS:
        folder_ = work / "real" / scan
        mask = predicted(folder_, scan)
        for path in sorted(folder_.glob("*.nii.gz")):
            if path.name in ("FLAIR.nii.gz", "brain.nii.gz"):
                continue
            truth = np.asarray(nib.load(path).dataobj) > 0
            rater = path.name.removesuffix(".nii.gz")
            score = dice(truth, mask)
            rows.append({"variant": variant, "scan": scan, "rater": rater, "dice": score})
    return rows


def add_child_options(parser: argparse.ArgumentParser) -> None:
    """The options by which :func:`train_side_by_side` starts a script's child training."""
    parser.add_argument("--train-variant", help=argparse.SUPPRESS)  # own process
    parser.add_argument("--dataset", help=argparse.SUPPRESS)


def train_if_child(args: argparse.Namespace, work: Path, settings: dict[str, Any]) -> bool:
    """In a child started by :func:`train_side_by_side`: train its variant (fold 0, CPU)
    and say so; in the parent, do nothing."""
    if not args.train_variant:
        return False
    train(work / args.train_variant, args.dataset, 0, settings, "cpu")
    return True


def train_side_by_side(
    script: str, work: Path, epochs: int, datasets: dict[str, str]
) -> dict[str, float]:
    """Train fold 0 of each variant's dataset, two at a time, each in its own process
    (``script --train-variant``: nnU-Net keeps global state); seconds per training."""

    def one(variant: str) -> float:
        begin = time.perf_counter()
        cmd = [sys.executable, script, "--work", str(work), "--epochs", str(epochs)]
        cmd += ["--train-variant", variant, "--dataset", datasets[variant]]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{variant}: {done.stderr[-2000:]}")
        return time.perf_counter() - begin

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(datasets, pool.map(one, datasets), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/wmhmap-domain-randomised"))
    parser.add_argument("--subjects", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--variants", nargs="+", default=["demo", "randomised"])
    add_child_options(parser)
    args = parser.parse_args()
    work = args.work.resolve()
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    s = lesion_settings(args.epochs)
    if train_if_child(args, work, s):
        return

    start = time.perf_counter()
    jobs = [(v, i) for v in args.variants for i in range(args.subjects)]
    with ProcessPoolExecutor(2) as pool:
        variants, indices = zip(*jobs, strict=True)
        list(pool.map(make_phantom, variants, indices, [str(work)] * len(jobs)))
        list(pool.map(prepare_real, SCANS, [str(work)] * len(SCANS)))
    took = time.perf_counter() - start
    print(f"{len(jobs)} phantoms and {len(SCANS)} real FLAIRs in {took:.0f} s")
    subjects = [f"p{i:02d}" for i in range(args.subjects)]
    datasets = {v: write_dataset(work, v, subjects, s) for v in args.variants}

    print(f"{s['trainer']} {s['configuration']} {s['epochs']} epochs, {s['plans_overrides']}")
    seconds = train_side_by_side(__file__, work, args.epochs, datasets)
    print("seconds per training (two at a time):", {v: round(t) for v, t in seconds.items()})
    rows = [row for v in args.variants for row in evaluate(work, v, datasets[v], s)]
    import pandas as pd

    df = pd.DataFrame(rows)
    print("\nDice (phantoms: the held-out phantoms of fold 0, median)")
    table = df.groupby(["scan", "rater", "variant"])["dice"].median().unstack("variant")
    print(table.round(3).to_string())
    for variant in args.variants:
        real = df[(df.variant == variant) & (df.scan != "phantoms")]["dice"]
        print(f"{variant}: real FLAIR median {statistics.median(real):.3f}, min {real.min():.3f}")
    out = REPO / "benchmarks" / "results" / "domain_randomised.tsv"
    df.to_csv(out, sep="\t", index=False, float_format="%.4f")
    print(f"rows: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
