"""nnU-Net's environment: its three folders and the external-trainer folder."""

from __future__ import annotations

import os
import sys
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


# nnU-Net's augmentation workers that keep a GPU busy (nnU-Net itself starts up to 12)
GPU_TRAINING_THREADS = 8


def gpu_visible(
    nvidia: Path = Path("/proc/driver/nvidia/gpus"), platform: str = sys.platform
) -> bool:
    """Whether this host shows a GPU nnU-Net can use, without importing torch (so the
    Snakefile can ask while planning): an NVIDIA driver with a GPU, or an Apple machine
    (``mps``). A job on a cluster node decides again with :func:`resolve_device`."""
    if platform == "darwin":
        return os.uname().machine == "arm64"
    return nvidia.is_dir() and any(nvidia.iterdir())


def training_threads(device: str, *, gpu: bool | None = None) -> int:
    """Threads of one training job: 1 on a CPU, :data:`GPU_TRAINING_THREADS` on a GPU.

    On a CPU every fold is its own job and several run side by side; one thread each
    uses the cores best (measured in the demo DAG on 2 cores: a region fold takes
    178-189 s with one thread, two side by side, and 151-182 s with two threads, one at a
    time; a lesion fold 67-71 s against 91-98 s), and the augmentation then runs in the
    training process. On a GPU nnU-Net's augmentation workers feed it (threads - 1 of
    them). ``gpu``: whether ``auto`` finds a GPU (default: :func:`gpu_visible`).

    >>> training_threads("cpu"), training_threads("cuda")
    (1, 8)
    >>> training_threads("auto", gpu=False), training_threads("auto", gpu=True)
    (1, 8)
    """
    if device == "auto":
        device = "cuda" if (gpu_visible() if gpu is None else gpu) else "cpu"
    return 1 if device == "cpu" else GPU_TRAINING_THREADS


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
