"""wmhmap's nnU-Net trainers. This folder is nnU-Net's ``nnUNet_extTrainer``.

Keep this module free of imports beyond torch and nnU-Net trainer modules that need no
optional package: nnU-Net imports every module in the folder while looking for a
trainer by name (its Primus trainers, for one, pull in timm and torchvision).

Each class changes its parent in one respect (the first in two):

- ``nnUNetTrainerShortEpochs``: epoch length, and progress.png drawn every few
  epochs (CPU demo and tests);
- ``nnUNetTrainerLateralised`` and ``nnUNetTrainerShortEpochsNoMirroring``: nnU-Net's
  trainer, and short epochs, with augmentation for lateralised labels (the region
  model: left and right regions carry different labels, and a mirrored or half-turned
  training image would teach the network that either side may be either label; the
  ``LateralisedAugmentation`` mixin). The first is the region model's GPU trainer;
- ``nnUNetTrainerShortEpochsFlairFirst``: a curriculum for single-channel lesion
  training, FLAIR cases first (see the class);
- ``nnUNetTrainerShortEpochsNoDA``: no data augmentation (nnU-Net's own
  ``nnUNetTrainerNoDA`` with short epochs);
- ``nnUNetTrainerShortEpochsNoDAAdamW``: the same with AdamW, the CPU region model
  (see the class);
- ``nnUNetTrainerShortEpochsAdamW``, ``nnUNetTrainerShortEpochsFlairFirstAdamW`` and
  ``nnUNetTrainerShortEpochsNoMirroringAdamW``: short epochs, the curriculum, and the
  lateralised augmentation, with AdamW (the ``AdamWOptimiser`` mixin); the second is
  the config's CPU lesion model;
- ``nnUNetTrainerGCE`` and ``nnUNetTrainerShortEpochsFlairFirstAdamWGCE``: nnU-Net's
  trainer and the CPU lesion trainer with a loss robust to label noise, for masks made
  by classic segmenters (the ``NoisyLabelLoss`` mixin).
"""

import numpy as np
import torch
from nnunetv2.training.data_augmentation.compute_initial_patch_size import get_patch_size
from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.training.nnUNetTrainer.variants.data_augmentation.nnUNetTrainerNoDA import (
    nnUNetTrainerNoDA,
)


class nnUNetTrainerShortEpochs(nnUNetTrainer):
    """nnU-Net's default trainer with short epochs: 25 training and 5 validation iterations.

    The one change: epoch length. A CPU training of a few minutes then still runs
    enough epochs for the poly learning-rate schedule, logging and checkpoints (so a
    killed job resumes close to where it stopped). Everything else -- loss,
    augmentation, optimiser, deep supervision -- is nnU-Net's default. The number of
    epochs is set by the workflow (``nnunet.epochs``).

    With epochs this short, nnU-Net's progress.png (a 3000x5400-pixel figure redrawn
    after every epoch, 0.4-0.5 s) would cost a fifth of a CPU epoch: it is drawn every
    ``plot_every`` epochs and after the last.
    """

    plot_every = 5

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),  # noqa: B008 (nnU-Net's signature)
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_iterations_per_epoch = 25
        self.num_val_iterations_per_epoch = 5
        self._plot_progress_png = self.logger.plot_progress_png
        self.logger.plot_progress_png = self._plot_progress_now_and_then

    def _plot_progress_now_and_then(self, output_folder: str) -> None:
        epoch = self.current_epoch  # nnU-Net plots before counting the epoch done
        if (epoch + 1) % self.plot_every == 0 or epoch >= self.num_epochs - 1:
            self._plot_progress_png(output_folder)


class LateralisedAugmentation:
    """Mixin: nnU-Net's augmentation made safe for labels with a left and a right
    version of each structure (the region model). It changes two things:

    - no mirroring, in training or at test time: a mirrored training image would teach
      the network that either side may carry either label;
    - rotations of at most ``max_rotation_degrees`` about each axis. For 2-D patches
      that are not elongated, and for 3-D patches of thick slices, nnU-Net rotates by
      up to 180 degrees, and a half turn in the plane is a left-right mirror (with an
      up-down one). Heads lie roughly upright in a scanner and the workflow reorients
      every image to RAS; 15 degrees is nnU-Net's own limit for elongated 2-D patches.

    Scaling, elastic settings and the intensity transforms stay nnU-Net's.
    """

    max_rotation_degrees = 15.0

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):  # type: ignore[no-untyped-def]
        _, dummy_2d, _, _ = super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        limit = float(np.deg2rad(self.max_rotation_degrees))
        rotation = (-limit, limit)
        patch_size = self.configuration_manager.patch_size
        dim = len(patch_size)
        # as nnU-Net does: the patch cut before the spatial transforms covers the
        # rotated and scaled final patch
        initial_patch_size = get_patch_size(
            patch_size[-dim:], rotation, rotation, rotation, (0.85, 1.25)
        )
        if dummy_2d:
            initial_patch_size[0] = patch_size[0]
        self.inference_allowed_mirroring_axes = None
        return rotation, dummy_2d, initial_patch_size, None


class nnUNetTrainerLateralised(LateralisedAugmentation, nnUNetTrainer):
    """nnU-Net's default trainer (1000 epochs on a GPU) with augmentation for lateralised
    labels: the region model's GPU trainer. nnU-Net's own ``nnUNetTrainerNoMirroring``
    stops mirroring but still turns 2-D patches and thick-slice 3-D patches by up to
    180 degrees."""


class nnUNetTrainerShortEpochsNoMirroring(LateralisedAugmentation, nnUNetTrainerShortEpochs):
    """Short epochs with augmentation for lateralised labels (``LateralisedAugmentation``:
    no mirroring, rotations of at most 15 degrees)."""


FLAIR_CASE_SUFFIX = "_FLAIR"


class nnUNetTrainerShortEpochsFlairFirst(nnUNetTrainerShortEpochs):
    """Short epochs with a FLAIR-first curriculum for single-channel lesion datasets.

    The one change: during the first ``flair_first_fraction`` of the epochs the
    training cases are only the FLAIR cases (``<subject>_FLAIR``); then all cases
    (FLAIR and T1w) as usual. Validation always uses all of the fold's cases.

    Why: WMH are bright on FLAIR but on T1w only slightly darker than grey matter. In a
    short CPU training on a mixed set, the T1w cases (half the set) pull the
    full-resolution output to "background everywhere" before it has found the FLAIR
    lesions, and it does not recover in a few hundred iterations (measured on the demo:
    lesion Dice 0 on every held-out case after 800 iterations of mixed training; FLAIR
    first, then mixed: 0.80-0.85 on held-out FLAIR). A full GPU training (1000 epochs)
    does not need it. Datasets without FLAIR cases (multichannel) train as usual.
    """

    flair_first_fraction = 2 / 3

    def _flair_epochs(self) -> int:
        return round(self.flair_first_fraction * self.num_epochs)

    def _in_flair_phase(self) -> bool:
        return self.current_epoch < self._flair_epochs()

    def do_split(self) -> tuple[list[str], list[str]]:
        tr_keys, val_keys = super().do_split()
        self._built_for_flair_phase = self._in_flair_phase()
        if self._built_for_flair_phase:
            flair = [k for k in tr_keys if k.endswith(FLAIR_CASE_SUFFIX)]
            if flair:
                self.print_to_log_file(
                    f"curriculum: epochs 0-{self._flair_epochs() - 1} train on the "
                    f"{len(flair)} FLAIR cases of {len(tr_keys)}"
                )
                tr_keys = flair
            else:
                self.print_to_log_file("curriculum: no FLAIR cases, training on all cases")
        return tr_keys, val_keys

    def on_epoch_start(self) -> None:
        if getattr(self, "_built_for_flair_phase", False) and not self._in_flair_phase():
            self.print_to_log_file("curriculum: now training on all cases")
            for loader in (self.dataloader_train, self.dataloader_val):  # type: ignore[has-type]
                if hasattr(loader, "_finish"):
                    loader._finish()
            self.dataloader_train, self.dataloader_val = self.get_dataloaders()
            self._built_for_flair_phase = False
        super().on_epoch_start()


class nnUNetTrainerShortEpochsNoDA(nnUNetTrainerNoDA, nnUNetTrainerShortEpochs):
    """Short epochs without data augmentation: patches are cut from the preprocessed
    images as they are (no rotation, scaling, mirroring or intensity transforms, hence no
    test-time mirroring either). nnU-Net's ``nnUNetTrainerNoDA`` does the work."""


class AdamWOptimiser:
    """Mixin: AdamW (lr 3e-3, nnU-Net's poly schedule) instead of nnU-Net's SGD with
    Nesterov momentum (lr 1e-2). Small CPU networks trained for a few thousand
    iterations learn with it; under SGD they first predict background everywhere for
    hundreds of iterations, and some never leave that state (see the two classes)."""

    learning_rate = 3e-3

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        self.initial_lr = self.learning_rate  # nnU-Net's SGD default is 1e-2
        optimizer = torch.optim.AdamW(
            self.network.parameters(),
            lr=self.initial_lr,
            weight_decay=self.weight_decay,
        )
        return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)


class nnUNetTrainerShortEpochsNoDAAdamW(AdamWOptimiser, nnUNetTrainerShortEpochsNoDA):
    """Short epochs, no augmentation, and AdamW: the one change is the optimiser.

    For the CPU region model (35 labels from a few hundred iterations), measured on the
    demo at 3 mm, 800 iterations, fold 0, 8 held-out subjects (mean region Dice against
    the true maps, T1w input): SGD predicts background everywhere (0.00), AdamW 0.72 with
    nnU-Net's augmentation and 0.77 without it (nnU-Net rotates 2-D patches by up to
    180 degrees, which turns left regions into right ones). A GPU training of 1000 epochs
    does not need either change: use ``nnUNetTrainerLateralised``.
    """


class nnUNetTrainerShortEpochsAdamW(AdamWOptimiser, nnUNetTrainerShortEpochs):
    """Short epochs with nnU-Net's augmentation and AdamW: the one change is the
    optimiser. For a CPU lesion model learnt from real scans (see docs/training.md)."""


class nnUNetTrainerShortEpochsFlairFirstAdamW(AdamWOptimiser, nnUNetTrainerShortEpochsFlairFirst):
    """The FLAIR-first curriculum with AdamW: the CPU lesion model of the config, for
    the demo's FLAIR and T1w cases and real scans alike (a dataset without FLAIR cases
    trains on all cases from the start, as with the parent)."""


class nnUNetTrainerShortEpochsNoMirroringAdamW(AdamWOptimiser, nnUNetTrainerShortEpochsNoMirroring):
    """Short epochs, augmentation for lateralised labels, and AdamW. The one change from
    ``nnUNetTrainerShortEpochsNoMirroring`` is the optimiser. For the region model on
    real scans it learned less in 800 iterations than ``nnUNetTrainerShortEpochsNoDAAdamW``
    (held-out Dice 0.661 against 0.679, docs/measurements.md); longer trainings with it
    are not measured."""


class GeneralisedCrossEntropy(torch.nn.Module):
    """Generalised cross-entropy (Zhang and Sabuncu, NeurIPS 2018), a loss robust to
    label noise: per voxel ``(1 - p_y ** q) / q``, where ``p_y`` is the softmax
    probability of the voxel's label. ``q -> 0`` gives the cross-entropy, ``q = 1`` the
    mean absolute error. Its gradient is the cross-entropy's times ``p_y ** q``: a voxel
    whose label the network strongly disputes (``p_y`` small: a lesion a classic mask
    missed, say) pulls much less than under cross-entropy, one it agrees with as much.

    Takes logits ``(b, c, ...)`` and a label map ``(b, 1, ...)`` or ``(b, ...)``, as
    nnU-Net's ``RobustCrossEntropyLoss`` does; voxels labelled ``ignore_index`` count
    nowhere.
    """

    def __init__(self, q: float = 0.7, ignore_index: int | None = None):
        super().__init__()
        if not 0 < q <= 1:
            raise ValueError(f"q must lie in (0, 1], got {q}")
        self.q = q
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.ndim == logits.ndim:
            target = target[:, 0]
        target = target.long()
        valid = None
        if self.ignore_index is not None:
            valid = target != self.ignore_index
            target = torch.where(valid, target, torch.zeros_like(target))
        # in float32 under mixed precision: p ** q of a tiny half-precision p is 0
        prob = torch.softmax(logits.float(), dim=1).gather(1, target.unsqueeze(1))[:, 0]
        loss = (1 - prob.clamp_min(1e-6) ** self.q) / self.q
        if valid is None:
            return loss.mean()
        return loss[valid].mean() if bool(valid.any()) else loss.sum() * 0


class NoisyLabelLoss:
    """Mixin: nnU-Net's Dice + cross-entropy loss with the cross-entropy replaced by the
    generalised cross-entropy (``GeneralisedCrossEntropy``, ``q = gce_q``), for
    training on labels known to be noisy: the bronze and silver masks of the classic
    segmenters (the annotation-free and staged training modes). Deep supervision, the
    soft Dice and the weights stay nnU-Net's."""

    gce_q = 0.7

    def _build_loss(self):  # type: ignore[no-untyped-def]
        loss = super()._build_loss()
        inner = loss.loss if isinstance(loss, DeepSupervisionWrapper) else loss
        if not isinstance(inner, DC_and_CE_loss):  # a region-based (sigmoid) dataset
            raise TypeError(f"{type(self).__name__} needs a softmax Dice + CE loss")
        inner.ce = GeneralisedCrossEntropy(self.gce_q, inner.ignore_label)
        return loss


class nnUNetTrainerGCE(NoisyLabelLoss, nnUNetTrainer):
    """nnU-Net's default trainer with the generalised cross-entropy (``NoisyLabelLoss``):
    a GPU lesion model learnt from classic masks."""


class nnUNetTrainerShortEpochsFlairFirstAdamWGCE(
    NoisyLabelLoss, nnUNetTrainerShortEpochsFlairFirstAdamW
):
    """The config's CPU lesion trainer with the generalised cross-entropy
    (``NoisyLabelLoss``): the one change is the loss."""
