"""Find an nnU-Net trainer class by name without importing every trainer nnU-Net ships."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from wmhmap.errors import WmhmapError
from wmhmap.nnunet.env import TRAINER_DIR


def _wmhmap_trainers() -> Any:
    spec = importlib.util.spec_from_file_location(
        "wmhmap_trainers", TRAINER_DIR / "wmhmap_trainers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# nnU-Net's own variants a user is likely to name, imported directly: nnU-Net's
# recursive lookup imports every trainer module (Primus -> timm -> torchvision).
_NNUNET_VARIANTS = {
    "nnUNetTrainerNoMirroring": (
        "nnunetv2.training.nnUNetTrainer.variants.data_augmentation.nnUNetTrainerNoMirroring"
    ),
}


def find_trainer_class(name: str) -> Any:
    """The trainer class called ``name``.

    Looks in wmhmap's trainers, at nnU-Net's default trainer and at its
    ``nnUNetTrainerNoMirroring`` first; only other
    names go through nnU-Net's own recursive lookup, which imports all of nnU-Net's
    trainer modules (and so needs a working timm/torchvision).
    """
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    if name == "nnUNetTrainer":
        return nnUNetTrainer
    ours = _wmhmap_trainers()
    if hasattr(ours, name):
        trainer = getattr(ours, name)
        assert issubclass(trainer, nnUNetTrainer)
        return trainer
    if name in _NNUNET_VARIANTS:
        return getattr(importlib.import_module(_NNUNET_VARIANTS[name]), name)
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    try:
        return recursive_find_trainer_class_by_name(name)
    except (ImportError, RuntimeError) as exc:
        if "torchvision" in str(exc) or "timm" in str(exc) or "nms" in str(exc):
            raise WmhmapError(
                f"nnU-Net trainer {name!r} is not one of wmhmap's, and nnU-Net's own trainer "
                f"lookup failed while importing its Primus trainers ({exc}); on CPU-only "
                "installs the PyPI torchvision does not match the CPU torch. Use "
                "nnUNetTrainer or nnUNetTrainerShortEpochs, or install a torchvision built "
                "for your torch (see docs/installing.md)"
            ) from None
        raise
