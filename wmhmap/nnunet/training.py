"""Training one fold of an nnU-Net model (resumable, optionally from pretrained weights)."""

from __future__ import annotations

import json
import logging
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wmhmap.nnunet.datasets import grouped_splits, read_case_subjects
from wmhmap.nnunet.trainer_lookup import find_trainer_class

log = logging.getLogger(__name__)


def model_settings(nnunet: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, Any]:
    """The ``nnunet`` config section with one model's ``training`` overrides applied.

    ``plans_overrides`` are merged key by key, and a key set to None is dropped (nnU-Net's
    own value; config files merge into each other, so None is how a later file undoes an
    override); other keys replace.

    >>> s = model_settings(
    ...     {"trainer": "nnUNetTrainer", "epochs": 10, "plans_overrides": {"n_stages": 5}},
    ...     {"training": {"epochs": 20, "plans_overrides": {"patch_size": [64, 64]}}},
    ... )
    >>> s["trainer"], s["epochs"], s["plans_overrides"]
    ('nnUNetTrainer', 20, {'n_stages': 5, 'patch_size': [64, 64]})
    """
    own = dict(model.get("training") or {})
    out = dict(nnunet)
    merged = {
        **(nnunet.get("plans_overrides") or {}),
        **(own.pop("plans_overrides", None) or {}),
    }
    out["plans_overrides"] = {key: value for key, value in merged.items() if value is not None}
    out.update(own)
    return out


def stage_settings(config: Mapping[str, Any], model: str, stage: str = "gold") -> dict[str, Any]:
    """The nnunet settings of one model's training stage: the ``nnunet`` section, the
    model's ``training`` over it, and for a bronze or silver stage that stage's own.

    >>> cfg = {"nnunet": {"epochs": 10, "tta": False},
    ...        "models": {"lesion": {"training": {"epochs": 24},
    ...                              "stages": {"bronze": {"training": {"epochs": 8}}}}}}
    >>> stage_settings(cfg, "lesion")["epochs"], stage_settings(cfg, "lesion", "bronze")["epochs"]
    (24, 8)
    """
    settings = model_settings(config["nnunet"], config["models"][model])
    if stage != "gold":
        settings = model_settings(settings, config["models"][model]["stages"][stage])
    return settings


_PLAN_KEYS = ("configuration", "plans", "plans_overrides", "folds", "split_seed")
RECIPE_KEYS = {
    "plan": _PLAN_KEYS,
    "train": (*_PLAN_KEYS, "trainer", "epochs", "oversample_foreground", "seed"),
}
"""The settings a step's result depends on. The planning and training jobs get only
these as Snakemake params (whose change reruns a job, and with it every model built on
it); where and how a model runs -- device, compile, nnU-Net's validation after
training, test-time mirroring, tile step -- reaches them from the config instead, so
that turning on mirroring for inference, say, does not retrain every model."""


def recipe(settings: Mapping[str, Any], step: str) -> dict[str, Any]:
    """The settings of ``RECIPE_KEYS[step]``.

    >>> recipe({"epochs": 24, "trainer": "T", "device": "cuda", "configuration": "2d",
    ...         "plans": "P", "plans_overrides": {}, "folds": 5, "split_seed": 0,
    ...         "oversample_foreground": 0.33, "seed": None, "tta": True}, "plan")
    {'configuration': '2d', 'plans': 'P', 'plans_overrides': {}, 'folds': 5, 'split_seed': 0}
    """
    return {key: settings[key] for key in RECIPE_KEYS[step]}


def write_splits(
    preprocessed_dataset: Path, raw_dataset_json: Path, n_folds: int, seed: int
) -> Path:
    """Write the subject-grouped ``splits_final.json`` nnU-Net trains from."""
    splits = grouped_splits(read_case_subjects(raw_dataset_json), n_folds, seed)
    path = preprocessed_dataset / "splits_final.json"
    path.write_text(json.dumps(splits, indent=2))
    return path


def model_folder(results: Path, dataset: str, trainer: str, plans: str, configuration: str) -> Path:
    """nnU-Net's output folder of a trained model (all folds)."""
    return results / dataset / f"{trainer}__{plans}__{configuration}"


def train_fold(
    dataset: str,
    *,
    configuration: str,
    fold: int,
    trainer_name: str,
    plans_name: str,
    device: str,
    epochs: int | None = None,
    oversample_foreground: float | None = None,
    pretrained_weights: Path | None = None,
    resume: bool = True,
    validate: bool = True,
    threads: int = 1,
    seed: int | None = None,
    compile: bool | None = None,
    collapse_retries: int = 0,
) -> Path:
    """Train (or resume) one fold; returns the fold folder holding ``checkpoint_final.pth``.

    nnU-Net's folders must be configured (:func:`wmhmap.nnunet.env.configure`).
    A ``checkpoint_latest.pth`` left by a killed job is resumed from; pretrained
    weights (e.g. the previous stage of a staged training) are only loaded for a
    fresh start.

    With a ``seed``, an uninterrupted training is repeatable: Python, NumPy and torch are
    seeded, and data augmentation runs in this process (nnU-Net's augmentation workers
    seed themselves at random and deliver batches in whatever order they finish). On a
    CPU with the same thread count two runs give identical weights; on CUDA, kernels are
    deterministic where torch has deterministic versions (others warn). A resumed
    training continues from the checkpoint's weights, not from the seeded sequence.

    ``compile``: whether nnU-Net compiles the network with ``torch.compile`` (see
    :func:`set_compile`; None: nnU-Net's default).

    A fold that ends *collapsed* (:func:`collapsed`: no foreground found on its
    validation patches over its last epochs, so it segments nothing) is trained afresh
    up to ``collapse_retries`` times, with seed ``seed + attempt`` when seeded; the
    collapsed attempt's logs are kept in ``collapsed_attempt_<n>/`` of the fold folder.
    A fold still collapsed after the retries is kept, with a warning.
    """
    for attempt in range(collapse_retries + 1):
        trainer = _train_once(
            dataset,
            configuration=configuration,
            fold=fold,
            trainer_name=trainer_name,
            plans_name=plans_name,
            device=device,
            epochs=epochs,
            oversample_foreground=oversample_foreground,
            pretrained_weights=pretrained_weights,
            resume=resume,
            threads=threads,
            seed=None if seed is None else seed + attempt,
            compile=compile,
        )
        output = Path(trainer.output_folder)
        progress = fold_progress(output / "checkpoint_final.pth")
        if not progress.collapsed:
            break
        what = (
            f"{dataset} fold {fold} collapsed: no foreground on its validation patches "
            f"in its last {progress.judged_epochs} of {progress.epochs} epochs, so it "
            "segments nothing"
        )
        if attempt == collapse_retries:
            log.warning(
                "%s; kept after %d retries (more epochs, oversample_foreground or an "
                "AdamW trainer help, see docs/training.md; nnunet.collapse_retries)",
                what,
                collapse_retries,
            )
            break
        aside = _set_aside(output)
        log.warning("%s; training it afresh (logs of that attempt: %s)", what, aside)
    if validate:
        trainer.perform_actual_validation(False)
    return output


def _train_once(
    dataset: str,
    *,
    configuration: str,
    fold: int,
    trainer_name: str,
    plans_name: str,
    device: str,
    epochs: int | None,
    oversample_foreground: float | None,
    pretrained_weights: Path | None,
    resume: bool,
    threads: int,
    seed: int | None,
    compile: bool | None,
) -> Any:
    """One training run of a fold (resumed where a killed job left a checkpoint);
    returns nnU-Net's trainer."""
    import torch
    from nnunetv2.paths import nnUNet_preprocessed, nnUNet_results
    from nnunetv2.run.run_training import maybe_load_checkpoint

    torch.set_num_threads(max(threads, 1))
    set_compile(compile)
    if seed is not None:
        seed_training(seed, device)
    folder = Path(str(nnUNet_preprocessed)) / dataset
    plans = json.loads((folder / f"{plans_name}.json").read_text())
    dataset_json = json.loads((folder / "dataset.json").read_text())
    trainer_class = find_trainer_class(trainer_name)
    output = (
        model_folder(
            Path(str(nnUNet_results)), dataset, trainer_class.__name__, plans_name, configuration
        )
        / f"fold_{fold}"
    )
    latest = output / "checkpoint_latest.pth"
    resuming = resume and latest.is_file() and _readable_checkpoint(latest)
    plans["continue_training"] = resuming  # nnU-Net's trainer expects this flag in the plans
    trainer = trainer_class(
        plans=plans,
        configuration=configuration,
        fold=fold,
        dataset_json=dataset_json,
        device=torch.device(device),
    )
    if epochs is not None:
        trainer.num_epochs = int(epochs)
    if oversample_foreground is not None:
        trainer.oversample_foreground_percent = float(oversample_foreground)
    # Checkpoint often enough that a killed job loses little (nnU-Net: every 50 epochs).
    trainer.save_every = max(1, min(trainer.save_every, trainer.num_epochs // 10))
    if resuming:
        log.info("resuming %s fold %d from %s", dataset, fold, latest)
    maybe_load_checkpoint(
        trainer,
        continue_training=resuming,
        validation_only=False,
        pretrained_weights_file=None
        if resuming or pretrained_weights is None
        else str(pretrained_weights),
    )
    assert Path(trainer.output_folder) == output, (trainer.output_folder, output)
    trainer.run_training()
    return trainer


def _set_aside(output: Path) -> Path:
    """Move a fold's training logs into the next free ``collapsed_attempt_<n>`` folder
    of the fold folder and delete its checkpoints, so that the fold trains afresh."""
    n = 1
    while (output / f"collapsed_attempt_{n}").exists():
        n += 1
    aside = output / f"collapsed_attempt_{n}"
    aside.mkdir()
    for path in output.iterdir():
        if path.is_file():
            if path.suffix == ".pth" or path.name.endswith(".pth.corrupt"):
                path.unlink()
            else:
                path.replace(aside / path.name)
    return aside


@dataclass(frozen=True)
class FoldProgress:
    """What a fold's final checkpoint says of its training (nnU-Net's own log)."""

    epochs: int
    judged_epochs: int
    """The last epochs :func:`collapsed` looks at."""
    collapsed: bool


def fold_progress(checkpoint: Path) -> FoldProgress:
    """:class:`FoldProgress` from a fold's ``checkpoint_final.pth``."""
    import torch

    logged = torch.load(checkpoint, map_location="cpu", weights_only=False)["logging"]
    history = [list(map(float, epoch)) for epoch in logged["dice_per_class_or_region"]]
    return FoldProgress(
        epochs=len(history),
        judged_epochs=judged_epochs(len(history)),
        collapsed=collapsed(history),
    )


def judged_epochs(epochs: int) -> int:
    """The last epochs that decide whether a fold collapsed: a tenth, at least one.

    >>> judged_epochs(80), judged_epochs(24), judged_epochs(2)
    (8, 3, 1)
    """
    return max(1, math.ceil(epochs / 10))


def collapsed(pseudo_dice: Sequence[Sequence[float]]) -> bool:
    """Whether a training ended predicting no foreground: nnU-Net's pseudo Dice (per
    epoch, per foreground class, on that epoch's validation patches) is 0 for every class
    in each of the last :func:`judged_epochs` epochs. nan (no foreground on the patches
    and none predicted) says nothing.

    Measured on real T1 (WMH challenge, 80 epochs of 25 iterations, SGD): the healthy
    folds found lesions from epoch 46-48 on, one fold never did and segmented nothing
    on its held-out subjects; a demo fold of 24 epochs did the same.

    >>> collapsed([[0.0], [0.0], [0.0]]), collapsed([[0.0], [0.0], [0.4]])
    (True, False)
    >>> collapsed([[0.3, 0.0]] * 9 + [[0.0, 0.0]]), collapsed([[0.0, 0.5]] * 10)
    (True, False)
    >>> collapsed([[float("nan")]]), collapsed([])
    (False, False)
    """
    last = [d for epoch in pseudo_dice[-judged_epochs(len(pseudo_dice)) :] for d in epoch]
    seen = [d for d in last if not math.isnan(d)]
    return bool(seen) and all(d == 0 for d in seen)


def set_compile(compile: bool | None) -> None:
    """Tell nnU-Net whether to ``torch.compile`` the training network (its
    ``nnUNet_compile``); None leaves the environment as it is, so nnU-Net's default
    applies (compiled on CUDA, never on a CPU or Apple GPU) unless the user set it.

    Compiling costs a fixed time at the first epoch and pays off over a long training:
    measured on one H200 (``benchmarks/bench_nnunet_device.py``), the first epoch of a
    demo fold took 31-40 s against 0.5 s for each later one, so a demo fold (24-32
    epochs) spent most of its training compiling; a 3d_fullres fold of nnU-Net's own
    recipe compiled in 41 s and then trained at 13.5 s per epoch (3.8 h for 1000).

    >>> set_compile(False); os.environ["nnUNet_compile"]
    'false'
    >>> set_compile(None); os.environ["nnUNet_compile"]
    'false'
    >>> del os.environ["nnUNet_compile"]
    """
    if compile is not None:
        os.environ["nnUNet_compile"] = "true" if compile else "false"


def seed_training(seed: int, device: str) -> None:
    """Make the next nnU-Net training in this process repeatable (see :func:`train_fold`).

    On a CPU seeding is enough (measured: identical weights; torch's deterministic mode
    made a tests-config fold 3x slower, 147 s against 45 s, so it stays off there); on
    CUDA, cuDNN's autotuner is off and torch's deterministic kernels are used where they
    exist.
    """
    import numpy as np
    import torch

    os.environ["nnUNet_n_proc_DA"] = "0"  # augmentation in-process, one fixed sequence
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (nnU-Net draws from the global state)
    torch.manual_seed(seed)
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)


def _readable_checkpoint(path: Path) -> bool:
    """Whether a checkpoint left by a killed job can be resumed from.

    nnU-Net writes ``checkpoint_latest.pth`` in place, so a job killed while writing it
    leaves a truncated file; that one is set aside (``.corrupt``) and the fold starts
    afresh instead of failing on every rerun.
    """
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        ok = isinstance(checkpoint, dict) and "network_weights" in checkpoint
    except Exception as err:  # torch raises several kinds for a truncated file
        log.warning("%s is unreadable (%s)", path, err)
        ok = False
    if not ok:
        path.replace(path.with_suffix(".pth.corrupt"))
        log.warning("set %s aside; training this fold from the start", path)
    return ok
