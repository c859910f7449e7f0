"""nnU-Net's sliding-window predictor, run on batches of patches.

nnU-Net v2 sends one patch at a time through the network. For the small networks of a
CPU run that is mostly per-call overhead: a 2-D lesion network (8-64 features, 64x64
patches) takes 3.0 ms per patch one at a time and 1.5 ms in batches of 16 (one thread).
:class:`BatchedPredictor` changes only that: patches are stacked into batches, then
each is weighted and accumulated as nnU-Net does (Gaussian importance, mirroring when
test-time augmentation is on; float16 accumulators on a GPU, float32 on a CPU).
Instance normalisation works per patch, so a batch gives the same logits as single
patches up to float rounding (``tests/test_nnunet_models.py`` compares them with
nnU-Net's own predictor).

Imported lazily: it pulls in torch and nnU-Net.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
from nnunetv2.inference.sliding_window_prediction import compute_gaussian
from nnunetv2.utilities.helpers import empty_cache

PATCH_VOXELS_PER_BATCH = {"cpu": 2**16, "cuda": 2**21, "mps": 2**19}
"""Input voxels per network pass: 16 2-D patches of 64x64 on a CPU (measured fastest of
1-64: a demo FLAIR with 2 folds on one thread in 3.2 s against 6.3 s one at a time, 3.7 s at
32); on a GPU as many voxels as nnU-Net's default 3-D patch (128x128x128) has."""


def patches_per_batch(patch_size: tuple[int, ...] | list[int], device: str) -> int:
    """How many patches go through the network at once.

    >>> patches_per_batch([64, 64], "cpu"), patches_per_batch([128, 128, 128], "cpu")
    (16, 1)
    >>> patches_per_batch([128, 128, 128], "cuda"), patches_per_batch([64, 56], "cuda")
    (1, 64)
    """
    budget = PATCH_VOXELS_PER_BATCH.get(device, PATCH_VOXELS_PER_BATCH["cpu"])
    return max(1, min(64, budget // math.prod(patch_size)))


class BatchedPredictor(nnUNetPredictor):
    """``nnUNetPredictor`` whose sliding window sends ``batch_size`` patches per pass.

    ``half_accumulators``: sum the weighted logits in float16 (nnU-Net's choice); None:
    on a GPU only.
    """

    def __init__(
        self,
        *args: Any,
        batch_size: int | None = None,
        half_accumulators: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.batch_size = batch_size
        self.half_accumulators = half_accumulators

    @torch.inference_mode()
    def _internal_predict_sliding_window_return_logits(
        self, data: torch.Tensor, slicers: list[tuple[Any, ...]], do_on_device: bool = True
    ) -> torch.Tensor:
        results_device = self.device if do_on_device else torch.device("cpu")
        patch_size = tuple(self.configuration_manager.patch_size)
        batch_size = self.batch_size or patches_per_batch(patch_size, self.device.type)
        empty_cache(self.device)
        data = data.to(results_device)
        # nnU-Net accumulates in float16 to spare GPU memory; on a CPU float16 arithmetic
        # is slow (a sixth of a 35-class region prediction) and float32 costs only RAM
        half = self.half_accumulators
        if half is None:
            half = results_device.type != "cpu"
        dtype = torch.half if half else torch.float32
        logits = torch.zeros(
            (self.label_manager.num_segmentation_heads, *data.shape[1:]),
            dtype=dtype,
            device=results_device,
        )
        weights = torch.zeros(data.shape[1:], dtype=dtype, device=results_device)
        gaussian: torch.Tensor | float = (
            compute_gaussian(
                patch_size, sigma_scale=1.0 / 8, value_scaling_factor=10, device=results_device
            )
            if self.use_gaussian
            else 1.0
        )
        for start in range(0, len(slicers), batch_size):
            batch = slicers[start : start + batch_size]
            patches = torch.stack([data[sl] for sl in batch]).to(self.device)
            predictions = self._internal_maybe_mirror_and_predict(patches).to(results_device)
            for sl, prediction in zip(batch, predictions, strict=True):
                logits[sl] += prediction * gaussian
                weights[sl[1:]] += gaussian
        torch.div(logits, weights, out=logits)
        if torch.any(torch.isinf(logits)):
            raise RuntimeError(
                "inf in the predicted logits (accumulators overflowed); "
                "nnU-Net's own predictor fails the same way"
            )
        return logits
