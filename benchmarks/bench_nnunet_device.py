"""Train and run the demo's nnU-Net models on one device (a GPU, or the CPU), and time
nnU-Net's own recipe for a real study there.

Run after a demo run (``snakemake --cores all``), on the machine to measure:

    .venv/bin/python benchmarks/bench_nnunet_device.py --results results --device cuda

or, on a machine without the run (a GPU node), copy what it needs first (35 MB):

    .venv/bin/python benchmarks/bench_nnunet_device.py bundle --results results --to BUNDLE
    .venv/bin/python benchmarks/bench_nnunet_device.py --results BUNDLE --device cuda

Everything goes through the workflow's own functions (``plan_and_preprocess``,
``train_fold``, ``load_model``, ``segment``, ``restrict_to``) with the settings of
``config/config.yaml``; each training runs in its own process, as a Snakemake job does.
Stages (``--stages``, in this order):

* ``demo``: plan and preprocess the run's lesion and region datasets with the config's
  settings and train every fold, ``--parallel`` folds at a time with the threads the
  workflow's ``train_nnunet_fold`` gets on that device; seconds per fold and seconds per
  epoch (nnU-Net's own epoch timestamps).
* ``inference``: segment held-out subjects with both models as ``segment_subject.py``
  does (every fold, FLAIR and T1w, the config's fusion, the lesion mask kept inside the
  brain), without and with test-time mirroring: median seconds per subject after one
  warm-up subject, model loading, and one subject in a fresh process (imports, device
  start, loading both models and predicting); lesion Dice and mean region Dice against
  the demo's truth, so a fast device is not mistaken for a good model.
* ``recipe``: nnU-Net's defaults for a real study (``nnUNetTrainer``, ``nnUNetPlans``,
  ``--recipe-configurations``, 250 iterations per epoch) on the lesion dataset resampled
  to 1 mm voxels (``--recipe-voxel-mm``; nnU-Net then plans the patch and network it
  plans for real 1 mm scans) for ``--recipe-epochs`` epochs or ``--recipe-seconds``:
  seconds per epoch after the first, and what 1000 epochs x 5 folds x 2 models take.
* ``compile``: fold 0 of both demo models again with ``torch.compile`` of the training
  network switched the other way (``--compile``: the config's ``nnunet.compile`` for
  the demo, nnU-Net's default, compiled on CUDA, for the recipe).

Every result is printed and appended as one JSON line to ``--out`` (default
``<work>/results.jsonl``), so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import PIPE
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]

from wmhmap.nnunet.env import configure, training_threads  # noqa: E402
from wmhmap.nnunet.training import model_folder, model_settings  # noqa: E402

MODELS = ("lesion", "region")
MODALITIES = ("FLAIR", "T1w")


def config() -> dict[str, Any]:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def settings(model: str, epochs: int | None = None) -> dict[str, Any]:
    s = model_settings(config()["nnunet"], config()["models"][model])
    if epochs is not None:
        s["epochs"] = epochs
    return s


def raw_dataset(results: Path, model: str) -> Path:
    dataset_id = config()["models"][model]["dataset_id"]
    (found,) = (results / "nnunet" / "raw").glob(f"Dataset{dataset_id:03d}_*")
    return found


def record(out: Path, **values: Any) -> None:
    print(json.dumps(values), flush=True)
    with out.open("a") as fh:
        fh.write(json.dumps(values) + "\n")


def epoch_seconds(fold_folder: Path) -> list[float]:
    """Seconds of each finished epoch, as nnU-Net logs them ("Epoch time: 12.3 s"); read
    from the log so that a training stopped early still tells."""
    seconds = []
    for log in sorted(fold_folder.glob("training_log_*.txt")):
        for line in log.read_text().splitlines():
            if "Epoch time:" in line:
                seconds.append(float(line.split("Epoch time:")[1].split()[0]))
    return seconds


def held_out_subjects(results: Path) -> list[str]:
    trained = set()
    for model in MODELS:
        for case in (raw_dataset(results, model) / "imagesTr").iterdir():
            trained.add(case.name.split("_")[0])
    scans = sorted(results.glob("sub-*/anat/*_space-FLAIR_desc-preproc_FLAIR.nii.gz"))
    subjects = [p.name.split("_")[0] for p in scans]
    return [s for s in subjects if s.removeprefix("sub-") not in trained]


def subject_files(results: Path, subject: str) -> dict[str, Path]:
    anat = results / subject / "anat"
    files = {m: anat / f"{subject}_space-FLAIR_desc-preproc_{m}.nii.gz" for m in MODALITIES}
    files["brain"] = anat / f"{subject}_space-FLAIR_desc-brain_mask.nii.gz"
    files["reference"] = anat / f"{subject}_space-FLAIR_label-WMH_desc-reference_mask.nii.gz"
    truth = results / "demo" / "truth" / subject / "anat"
    files["truth_regions"] = truth / f"{subject}_desc-truth_dseg.nii.gz"
    return files


# --- bundle --------------------------------------------------------------------------------


def bundle(results: Path, to: Path, subjects: int) -> None:
    """Copy the raw datasets and a few held-out subjects' files out of a run; a file
    identical to one copied before (the two datasets hold the same scans) becomes a
    hard link to it, which ``tar`` and ``rsync -H`` carry once."""
    copied: dict[int, list[str]] = {}

    def copy(source: str, target: str) -> str:
        size = os.path.getsize(source)
        for earlier in copied.get(size, []):
            if filecmp.cmp(source, earlier, shallow=False):
                os.link(earlier, target)
                return target
        shutil.copyfile(source, target)
        copied.setdefault(size, []).append(target)
        return target

    for model in MODELS:
        source = raw_dataset(results, model)
        target = to / source.relative_to(results)
        shutil.copytree(source, target, dirs_exist_ok=True, copy_function=copy)
    for subject in held_out_subjects(results)[:subjects]:
        for path in subject_files(results, subject).values():
            target = to / path.relative_to(results)
            target.parent.mkdir(parents=True, exist_ok=True)
            copy(str(path), str(target))
    files = {p.stat().st_ino: p.stat().st_size for p in to.rglob("*") if p.is_file()}
    print(f"bundle {to}: {sum(files.values()) / 1e6:.1f} MB")


# --- one process per nnU-Net step (nnU-Net reads its folders at import) -----------------


def step_plan(work: Path, model: str, processes: int, recipe: str | None) -> None:
    from wmhmap.nnunet.plans import plan_and_preprocess
    from wmhmap.nnunet.training import write_splits

    configure(work, threads=processes)
    s = settings(model)
    (dataset,) = (work / "raw").glob(f"Dataset{config()['models'][model]['dataset_id']:03d}_*")
    plan_and_preprocess(
        int(dataset.name[7:10]),
        configuration=recipe or s["configuration"],
        plans_name="nnUNetPlans" if recipe else s["plans"],
        overrides={} if recipe else s["plans_overrides"],
        processes=processes,
    )
    write_splits(
        work / "preprocessed" / dataset.name,
        dataset / "dataset.json",
        s["folds"],
        s["split_seed"],
    )


def step_train(
    work: Path,
    model: str,
    fold: int,
    device: str,
    threads: int,
    epochs: int | None,
    recipe: str | None,
    iterations: int | None,
    compile: str,
) -> None:
    configure(work, threads=threads)
    import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as trainer_module

    from wmhmap.nnunet.training import train_fold

    s = settings(model, epochs)
    if iterations is not None:  # shorter epochs (validation: a fifth, as nnU-Net's 250/50)
        on_train_start = trainer_module.nnUNetTrainer.on_train_start

        def short(self: Any) -> None:
            on_train_start(self)
            self.num_iterations_per_epoch = iterations
            self.num_val_iterations_per_epoch = max(1, iterations // 5)

        trainer_module.nnUNetTrainer.on_train_start = short  # type: ignore[method-assign]
    (dataset,) = (work / "raw").glob(f"Dataset{config()['models'][model]['dataset_id']:03d}_*")
    train_fold(
        dataset.name,
        configuration=recipe or s["configuration"],
        fold=fold,
        trainer_name="nnUNetTrainer" if recipe else s["trainer"],
        plans_name="nnUNetPlans" if recipe else s["plans"],
        device=device,
        epochs=epochs if recipe else s["epochs"],
        oversample_foreground=None if recipe else s.get("oversample_foreground"),
        validate=False,
        threads=threads,
        seed=None if recipe else s["seed"],
        compile={"on": True, "off": False, "nnunet": None}.get(compile, s["compile"]),
    )


def step_segment(
    results: Path, work: Path, device: str, subjects: list[str], tta: bool
) -> dict[str, Any]:
    """Segment ``subjects`` with both models as segment_subject.py does, in this process."""
    start = time.perf_counter()
    configure(work, threads=1)
    import nibabel as nib
    import numpy as np
    import torch

    from wmhmap.geometry import reorient_to_ras
    from wmhmap.metrics import dice, region_dice
    from wmhmap.nnunet.inference import load_model, restrict_to, segment
    from wmhmap.preprocess import dilate_mask_mm
    from wmhmap.regions import load_region_table

    torch.set_num_threads(1)  # the segmentation jobs' one thread
    imported = time.perf_counter() - start
    cfg = config()
    models, loading = {}, {}
    for model in MODELS:
        s = settings(model)
        (dataset,) = (work / "raw").glob(f"Dataset{cfg['models'][model]['dataset_id']:03d}_*")
        folder = model_folder(
            work / "models", dataset.name, s["trainer"], s["plans"], s["configuration"]
        )
        t0 = time.perf_counter()
        models[model] = load_model(
            folder, device=device, tta=tta, tile_step_size=s["tile_step_size"]
        )
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        loading[model] = time.perf_counter() - t0
    table = load_region_table(REPO / cfg["atlas"]["region_table"])
    rows = []
    for subject in subjects:
        files = subject_files(results, subject)
        t0 = time.perf_counter()
        images = {m: nib.load(files[m]) for m in MODALITIES}
        for image in images.values():
            image.get_fdata()  # read now: the jobs read their scans too
        lesion = segment(
            models["lesion"],
            images,
            fusion=cfg["models"]["lesion"]["fusion"],
            per_fold=True,
            subject=subject,
        )
        brain = nib.load(files["brain"])
        margin = cfg["models"]["lesion"]["brain_margin_mm"]
        if margin is not None:
            allowed = dilate_mask_mm(
                np.asarray(brain.dataobj) > 0, brain.header.get_zooms()[:3], float(margin)
            )
            lesion = restrict_to(lesion, allowed)
        t1 = time.perf_counter()
        regions = segment(models["region"], images, fusion=cfg["models"]["region"]["fusion"])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        reference = np.asarray(nib.load(files["reference"]).dataobj) == 1
        truth = np.asarray(reorient_to_ras(nib.load(files["truth_regions"])).dataobj)
        rows.append(
            {
                "subject": subject,
                "lesion_s": t1 - t0,
                "region_s": t2 - t1,
                "lesion_dice": dice(reference, lesion.labels == 1),
                "region_dice": float(region_dice(regions.labels, truth, table)["dice"].mean()),
            }
        )
    return {"imports_s": imported, "loading_s": loading, "subjects": rows}


# --- stages --------------------------------------------------------------------------------


def run_step(
    args: argparse.Namespace, *step: str, timeout: float | None = None
) -> subprocess.CompletedProcess[str] | None:
    """Run one step in a fresh process; None when it ran past ``timeout`` (stopped)."""
    cmd = [sys.executable, __file__, "step", "--results", str(args.results)]
    cmd += ["--work", str(args.work), "--device", args.device, *step]
    # nnU-Net's settings are the step's own (configure, train_fold), not the caller's
    env = {k: v for k, v in os.environ.items() if not k.startswith("nnUNet_")}
    # its own process group, so that a stop also ends nnU-Net's augmentation workers
    process = subprocess.Popen(
        cmd, stdout=PIPE, stderr=PIPE, text=True, env=env, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None
    if process.returncode:
        sys.stderr.write(stdout[-3000:] + stderr[-6000:])
        raise SystemExit(f"step {' '.join(step)} failed ({process.returncode})")
    return subprocess.CompletedProcess(cmd, 0, stdout, stderr)


def train_demo_folds(
    args: argparse.Namespace, work_name: str, folds: list[int], compile: str
) -> None:
    """Plan (once) and train ``folds`` of both models in ``<work>/<work_name>``."""
    work = args.work / work_name
    configure(work)
    for model in MODELS:
        source = raw_dataset(args.results, model)
        shutil.copytree(source, work / "raw" / source.name, dirs_exist_ok=True)
        if (work / "preprocessed" / source.name / "splits_final.json").is_file():
            continue
        start = time.perf_counter()
        run_step(args, "plan", "--work-name", work_name, "--model", model,
                 "--processes", str(args.processes))  # fmt: skip
        record(args.out, stage=work_name, what="plan", model=model, s=time.perf_counter() - start)
    threads = args.threads or training_threads(args.device)
    parallel = args.parallel or max(1, (os.cpu_count() or 1) // threads)

    def one(job: tuple[str, int]) -> None:
        model, fold = job
        start = time.perf_counter()
        step = ["train", "--work-name", work_name, "--model", model, "--fold", str(fold)]
        step += ["--threads", str(threads)]
        if args.epochs is not None:
            step += ["--epochs", str(args.epochs)]
        run_step(args, *step, "--compile", compile)
        seconds = time.perf_counter() - start
        s = settings(model, args.epochs)
        (dataset,) = (work / "raw").glob(f"Dataset{config()['models'][model]['dataset_id']:03d}_*")
        folder = model_folder(
            work / "models", dataset.name, s["trainer"], s["plans"], s["configuration"]
        )
        epochs = epoch_seconds(folder / f"fold_{fold}")
        record(
            args.out,
            stage=work_name,
            what="train",
            model=model,
            fold=fold,
            device=args.device,
            threads=threads,
            parallel=parallel,
            compile={"on": True, "off": False}.get(compile, s["compile"]),
            epochs=len(epochs),
            s=seconds,
            epoch_s_first=epochs[0],
            epoch_s_median=statistics.median(epochs[1:] or epochs),
            epochs_s=sum(epochs),
        )

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, [(m, f) for m in MODELS for f in folds]))
    record(args.out, stage=work_name, what="all folds", s=time.perf_counter() - start)


def remaining(args: argparse.Namespace) -> float:
    """Seconds left of ``--budget-seconds`` (inf without one)."""
    if args.budget_seconds is None:
        return math.inf
    return args.budget_seconds - (time.perf_counter() - args.started)


def stage_demo(args: argparse.Namespace) -> None:
    folds = args.folds if args.folds is not None else list(range(settings("lesion")["folds"]))
    train_demo_folds(args, "demo", folds, args.compile)


def stage_compile(args: argparse.Namespace) -> None:
    """Fold 0 of both models again with the other torch.compile setting (same plans)."""
    if remaining(args) < args.reserve_seconds:
        record(args.out, stage="compile", skipped=f"{remaining(args):.0f} s of the budget left")
        return
    demo = {"on": True, "off": False}.get(args.compile, settings("lesion")["compile"])
    other = "off" if demo in (True, None) else "on"  # None: nnU-Net's, compiled on CUDA
    work = args.work / f"demo_compile_{other}"
    for folder in ("raw", "preprocessed"):
        shutil.copytree(args.work / "demo" / folder, work / folder, dirs_exist_ok=True)
    train_demo_folds(args, work.name, [0], other)


def stage_inference(args: argparse.Namespace) -> None:
    subjects = held_out_subjects(args.results)[: args.subjects]
    if len(subjects) < 2:
        raise SystemExit("inference needs at least 2 held-out subjects (one is a warm-up)")
    for tta in (False, True):
        step = ["segment", "--subjects", *subjects] + (["--tta"] if tta else [])
        run = run_step(args, *step)
        assert run is not None
        result = json.loads(run.stdout.strip().splitlines()[-1])
        timed = result["subjects"][1:]  # the first subject warms the device up
        record(
            args.out,
            stage="inference",
            device=args.device,
            tta=tta,
            subjects=len(timed),
            loading_s=result["loading_s"],
            lesion_s_median=statistics.median(r["lesion_s"] for r in timed),
            region_s_median=statistics.median(r["region_s"] for r in timed),
            subject_s_median=statistics.median(r["lesion_s"] + r["region_s"] for r in timed),
            lesion_dice_mean=statistics.mean(r["lesion_dice"] for r in result["subjects"]),
            region_dice_mean=statistics.mean(r["region_dice"] for r in result["subjects"]),
        )
    start = time.perf_counter()
    run = run_step(args, "segment", "--subjects", subjects[0])
    assert run is not None
    result = json.loads(run.stdout.strip().splitlines()[-1])
    record(
        args.out,
        stage="inference",
        what="one subject in a fresh process",
        device=args.device,
        s=time.perf_counter() - start,
        imports_s=result["imports_s"],
        loading_s=result["loading_s"],
        segment_s=result["subjects"][0]["lesion_s"] + result["subjects"][0]["region_s"],
    )


def resample_dataset(source: Path, target: Path, voxel_mm: float) -> None:
    """Copy a raw nnU-Net dataset with every image and label resampled to isotropic
    ``voxel_mm`` voxels (linear / nearest), so that nnU-Net plans as for such scans."""
    import nibabel as nib
    import numpy as np
    from scipy import ndimage

    def one(path: Path) -> None:
        image = nib.load(path)
        zooms = np.asarray(image.header.get_zooms()[:3], dtype=float)
        factors = zooms / voxel_mm
        label = path.parent.name == "labelsTr"
        data = ndimage.zoom(np.asarray(image.dataobj), factors, order=0 if label else 1)
        affine = image.affine.copy()
        affine[:3, :3] = image.affine[:3, :3] / factors
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data.astype(image.get_data_dtype()), affine), out)

    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.nii*"))
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(one, sorted(source.glob("*Tr/*.nii.gz"))))


def stage_recipe(args: argparse.Namespace) -> None:
    for configuration in args.recipe_configurations:
        work_name = f"recipe_{configuration}"
        work = args.work / work_name
        configure(work)
        source = raw_dataset(args.results, "lesion")
        start = time.perf_counter()
        if args.recipe_voxel_mm:
            resample_dataset(source, work / "raw" / source.name, args.recipe_voxel_mm)
        else:
            shutil.copytree(source, work / "raw" / source.name, dirs_exist_ok=True)
        step = ["plan", "--work-name", work_name, "--model", "lesion"]
        run_step(args, *step, "--processes", str(args.processes), "--recipe", configuration)
        planned = time.perf_counter() - start
        plans = json.loads((work / "preprocessed" / source.name / "nnUNetPlans.json").read_text())
        cfg = plans["configurations"][configuration]
        threads = args.recipe_threads
        step = ["train", "--work-name", work_name, "--model", "lesion", "--fold", "0"]
        step += ["--threads", str(threads), "--epochs", str(args.recipe_epochs)]
        step += ["--recipe", configuration]
        if args.recipe_iterations is not None:
            step += ["--iterations", str(args.recipe_iterations)]
        recipe_compile = "nnunet" if args.compile == "config" else args.compile
        limit = min(args.recipe_seconds or math.inf, remaining(args) - args.reserve_seconds)
        start = time.perf_counter()
        finished = run_step(
            args, *step, "--compile", recipe_compile, timeout=None if math.isinf(limit) else limit
        )
        seconds = time.perf_counter() - start
        folder = model_folder(
            work / "models", source.name, "nnUNetTrainer", "nnUNetPlans", configuration
        )
        epochs = epoch_seconds(folder / "fold_0")
        # epochs of fewer iterations than nnU-Net's 250 are scaled to 250
        scale = 250 / (args.recipe_iterations or 250)
        per_epoch = scale * statistics.median(epochs[1:] or epochs) if epochs else math.nan
        record(
            args.out,
            stage="recipe",
            configuration=configuration,
            device=args.device,
            compile=recipe_compile,
            voxel_mm=args.recipe_voxel_mm,
            median_image_size=cfg["median_image_size_in_voxels"],
            patch_size=cfg["patch_size"],
            batch_size=cfg["batch_size"],
            spacing=cfg["spacing"],
            features=cfg["architecture"]["arch_kwargs"]["features_per_stage"],
            augmentation_processes=threads - 1,
            prepare_and_plan_s=planned,
            train_s=seconds,
            stopped_at_limit=finished is None,
            epochs=len(epochs),
            iterations_per_epoch=args.recipe_iterations or 250,
            epoch_s=epochs,
            epoch_s_250_iterations_after_first=per_epoch,
            hours_1000_epochs_per_fold=per_epoch * 1000 / 3600,
            hours_study_2_models_5_folds=per_epoch * 1000 * 5 * 2 / 3600,
        )


# --- command line --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bundle"]:
        parser = argparse.ArgumentParser(prog="bench_nnunet_device.py bundle")
        parser.add_argument("--results", type=Path, default=REPO / "results")
        parser.add_argument("--to", type=Path, required=True)
        parser.add_argument("--subjects", type=int, default=6)
        a = parser.parse_args(argv[1:])
        bundle(a.results.resolve(), a.to, a.subjects)
        return
    if argv[:1] == ["step"]:
        step_main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--work", type=Path, default=Path("/tmp/wmhmap-bench-device"))
    parser.add_argument("--out", type=Path, help="JSON lines (default <work>/results.jsonl)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--stages", nargs="+", default=["demo", "inference", "recipe", "compile"], choices=STAGES
    )
    parser.add_argument("--folds", type=int, nargs="+", help="default: every fold")
    parser.add_argument("--epochs", type=int, help="demo stage: instead of the config's")
    parser.add_argument("--threads", type=int, help="per training (default: the workflow's)")
    parser.add_argument("--parallel", type=int, help="trainings at a time (default: cores)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--subjects", type=int, default=6, help="held-out, the first a warm-up")
    parser.add_argument(
        "--compile",
        choices=["config", "on", "off"],
        default="config",
        help="torch.compile of the training networks (config: nnunet.compile for the demo, "
        "nnU-Net's default for the recipe)",
    )
    parser.add_argument("--recipe-configurations", nargs="+", default=["3d_fullres"])
    parser.add_argument("--recipe-epochs", type=int, default=3)
    parser.add_argument("--recipe-threads", type=int, default=min(13, os.cpu_count() or 1))
    parser.add_argument(
        "--recipe-iterations", type=int, help="per epoch (else 250); epoch times are scaled"
    )
    parser.add_argument(
        "--recipe-voxel-mm",
        type=float,
        default=1.0,
        help="resample the dataset to this isotropic voxel size first (0: as it is)",
    )
    parser.add_argument("--recipe-seconds", type=float, help="stop the recipe training then")
    parser.add_argument(
        "--budget-seconds",
        type=float,
        help="the whole run's time: the recipe training stops --reserve-seconds before it "
        "ends, and the compile stage runs only with that much left",
    )
    parser.add_argument("--reserve-seconds", type=float, default=75)
    args = parser.parse_args(argv)
    args.started = time.perf_counter()
    args.results, args.work = args.results.resolve(), args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out = (args.out or args.work / "results.jsonl").resolve()
    for stage in args.stages:
        STAGES[stage](args)


STAGES = {
    "demo": stage_demo,
    "inference": stage_inference,
    "recipe": stage_recipe,
    "compile": stage_compile,
}


def step_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench_nnunet_device.py step")
    parser.add_argument("name", choices=["plan", "train", "segment"])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--work-name", default="demo")
    parser.add_argument("--model", choices=MODELS)
    parser.add_argument("--fold", type=int)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--recipe")
    parser.add_argument("--subjects", nargs="+")
    parser.add_argument("--tta", action="store_true")
    parser.add_argument("--compile", choices=["config", "nnunet", "on", "off"], default="config")
    a = parser.parse_args(argv)
    if a.name == "plan":
        step_plan(a.work / a.work_name, a.model, a.processes, a.recipe)
    elif a.name == "train":
        step_train(
            a.work / a.work_name, a.model, a.fold, a.device, a.threads, a.epochs, a.recipe,
            a.iterations, a.compile,
        )  # fmt: skip
    else:
        result = step_segment(a.results, a.work / "demo", a.device, a.subjects, a.tta)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
