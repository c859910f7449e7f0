"""nnU-Net's environment: its three folders and the external-trainer folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TRAINER_DIR = Path(__file__).resolve().parent / "trainers"
"""Folder of wmhmap's nnU-Net trainers; given to nnU-Net as ``nnUNet_extTrainer``."""


@dataclass(frozen=True)
class NnunetFolders:
    """nnUNet_raw, nnUNet_preprocessed and nnUNet_results under one root."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def preprocessed(self) -> Path:
        return self.root / "preprocessed"

    @property
    def results(self) -> Path:
        return self.root / "models"


def dataset_name(dataset_id: int, name: str) -> str:
    """nnU-Net's dataset folder name, e.g. ``Dataset501_WMHLesion``.

    >>> dataset_name(501, "WMHLesion")
    'Dataset501_WMHLesion'
    """
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"nnU-Net dataset ids are 1..999, got {dataset_id}")
    if not name.isidentifier():
        raise ValueError(f"dataset name {name!r} must be letters, digits and underscores")
    return f"Dataset{dataset_id:03d}_{name}"


def configure(root: str | Path, threads: int | None = None) -> NnunetFolders:
    """Point nnU-Net at ``root`` for this process (call before importing nnunetv2)."""
    folders = NnunetFolders(Path(root).resolve())
    for path in (folders.raw, folders.preprocessed, folders.results):
        path.mkdir(parents=True, exist_ok=True)
    os.environ["nnUNet_raw"] = str(folders.raw)
    os.environ["nnUNet_preprocessed"] = str(folders.preprocessed)
    os.environ["nnUNet_results"] = str(folders.results)
    os.environ["nnUNet_extTrainer"] = str(TRAINER_DIR)
    if threads is not None:
        os.environ["nnUNet_def_n_proc"] = str(max(int(threads), 1))
        os.environ["nnUNet_n_proc_DA"] = str(max(int(threads) - 1, 0))
    return folders


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``mps`` (Apple), else ``cpu``."""
    import torch

    if device != "auto":
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "nnunet.device is cuda but no CUDA GPU is visible to this job; request a GPU "
                "(workflow/profiles/slurm) or set nnunet.device: auto"
            )
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


LAYOUT = ("raw", "preprocessed", "models", "installed", "export")


def root_of(path: str | Path) -> Path:
    """The nnU-Net root holding ``path`` (the parent of its raw/preprocessed/models/... folder).

    >>> str(root_of("results/nnunet/models/Dataset501_X/T__P__c/fold_0/checkpoint_final.pth"))
    'results/nnunet'
    """
    for parent in Path(path).parents:
        if parent.name in LAYOUT:
            return parent.parent
    raise ValueError(f"{path} is not inside an nnU-Net folder ({', '.join(LAYOUT)})")
