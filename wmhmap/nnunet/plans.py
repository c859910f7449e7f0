"""Planning and preprocessing with nnU-Net, and plans scaled down for CPUs.

nnU-Net plans a network for an 8 GB GPU: 32-320 features per stage and patches of
~128^3. That is right for a GPU and hours per iteration batch on two CPU cores. The
``plans_overrides`` of the config scale one configuration down (fewer features and
stages, a smaller patch, a smaller batch, optionally a coarser voxel spacing) while
keeping nnU-Net's preprocessing and augmentation; leave them empty to use nnU-Net's
plans unchanged.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def scale_down_plans(
    plans: dict[str, Any], configuration: str, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``plans`` with one configuration's network scaled down.

    ``overrides`` keys (all optional): ``n_stages``, ``base_features``,
    ``max_features``, ``patch_size`` (rounded down to what the strides allow),
    ``batch_size``, ``spacing`` (the voxel size in mm the configuration resamples to,
    in nnU-Net's axis order; predictions are resampled back to each image's grid; None
    keeps nnU-Net's).
    """
    out = copy.deepcopy(plans)
    cfg = out["configurations"][configuration]
    arch = cfg["architecture"]["arch_kwargs"]
    n_stages = int(overrides.get("n_stages", arch["n_stages"]))
    if not 2 <= n_stages <= arch["n_stages"]:
        raise ValueError(f"n_stages must lie in 2..{arch['n_stages']}, got {n_stages}")
    base = int(overrides.get("base_features", arch["features_per_stage"][0]))
    top = int(overrides.get("max_features", max(arch["features_per_stage"])))
    arch["n_stages"] = n_stages
    arch["features_per_stage"] = [min(base * 2**i, top) for i in range(n_stages)]
    for key in ("kernel_sizes", "strides"):
        arch[key] = arch[key][:n_stages]
    for key in ("n_conv_per_stage",):
        if isinstance(arch.get(key), list):
            arch[key] = arch[key][:n_stages]
    if isinstance(arch.get("n_conv_per_stage_decoder"), list):
        arch["n_conv_per_stage_decoder"] = arch["n_conv_per_stage_decoder"][: n_stages - 1]
    if overrides.get("spacing") is not None:
        spacing = [float(v) for v in overrides["spacing"]]
        if len(spacing) != len(cfg["spacing"]):
            raise ValueError(
                f"plans_overrides.spacing {spacing} has {len(spacing)} axes but the "
                f"{configuration} configuration has {len(cfg['spacing'])}: give (y, x) for 2d "
                "and (z, y, x) for 3d"
            )
        cfg["median_image_size_in_voxels"] = [
            float(size) * old / new
            for size, old, new in zip(
                cfg["median_image_size_in_voxels"], cfg["spacing"], spacing, strict=True
            )
        ]
        cfg["spacing"] = spacing
    if "patch_size" in overrides:
        if len(overrides["patch_size"]) != len(cfg["patch_size"]):
            raise ValueError(
                f"plans_overrides.patch_size {list(overrides['patch_size'])} has "
                f"{len(overrides['patch_size'])} axes but the {configuration} configuration "
                f"has {len(cfg['patch_size'])}: give (y, x) for 2d and (z, y, x) for 3d"
            )
        divisor = np.prod(np.asarray(arch["strides"]), axis=0)
        wanted = np.minimum(np.asarray(overrides["patch_size"]), np.asarray(cfg["patch_size"]))
        patch = np.maximum((wanted // divisor) * divisor, divisor)
        cfg["patch_size"] = [int(v) for v in patch]
    if "batch_size" in overrides:
        cfg["batch_size"] = int(overrides["batch_size"])
    return out


def transferred_plans(source_plans: Path, dataset: str) -> dict[str, Any]:
    """Another dataset's plans, renamed for ``dataset`` (network, patch, spacing kept).

    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp()) / "p.json"
    >>> _ = src.write_text('{"dataset_name": "Dataset511_A", "plans_name": "P"}')
    >>> transferred_plans(src, "Dataset501_B")
    {'dataset_name': 'Dataset501_B', 'plans_name': 'P'}
    """
    plans = json.loads(Path(source_plans).read_text())
    plans["dataset_name"] = dataset
    return dict(plans)


@contextmanager
def _at_least_one_augmentation_process() -> Iterator[None]:
    before = os.environ.get("nnUNet_n_proc_DA")
    if before is not None and int(before) < 1:
        os.environ["nnUNet_n_proc_DA"] = "1"
    try:
        yield
    finally:
        if before is not None:
            os.environ["nnUNet_n_proc_DA"] = before


def plan_and_preprocess(
    dataset_id: int,
    *,
    configuration: str,
    plans_name: str,
    overrides: Mapping[str, Any],
    processes: int,
    gpu_memory_gb: float | None = None,
    source_plans: Path | None = None,
) -> Path:
    """Fingerprint, plan (nnU-Net's ExperimentPlanner) and preprocess one configuration.

    With ``source_plans`` (another dataset's plans file) the dataset is not planned but
    preprocessed with those plans, as nnU-Net's ``nnUNetv2_move_plans_between_datasets``
    does for pretraining: the same network, so weights trained on the source dataset
    load into it; ``overrides`` are then not applied again. Returns the plans file.
    Must run with nnU-Net's folders configured.
    """
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    extract_fingerprints(
        [dataset_id],
        num_processes=processes,
        check_dataset_integrity=True,
        clean=True,
        verbose=False,
    )
    dataset = maybe_convert_to_dataset_name(dataset_id)
    plans_file = Path(str(nnUNet_preprocessed)) / dataset / f"{plans_name}.json"
    if source_plans is not None:
        from nnunetv2.paths import nnUNet_raw

        # what plan_experiments would have copied beside the plans
        shutil.copyfile(
            Path(str(nnUNet_raw)) / dataset / "dataset.json", plans_file.parent / "dataset.json"
        )
        plans_file.write_text(json.dumps(transferred_plans(source_plans, dataset), indent=2))
    else:
        # nnU-Net's planner sets torch's thread count to nnUNet_n_proc_DA while it
        # estimates memory; 0 (augmentation in the training process, what a one-thread
        # job gets) would stop it with "set_num_threads expects a positive integer"
        with _at_least_one_augmentation_process():
            plan_experiments(
                [dataset_id],
                gpu_memory_target_in_gb=gpu_memory_gb,
                overwrite_plans_name=plans_name,
            )
    if overrides and source_plans is None:
        plans = json.loads(plans_file.read_text())
        plans_file.write_text(
            json.dumps(scale_down_plans(plans, configuration, overrides), indent=2)
        )
    preprocess(
        [dataset_id],
        plans_identifier=plans_name,
        configurations=(configuration,),
        num_processes=(processes,),
        verbose=False,
    )
    return plans_file
