"""A subject's expert images (lesion mask, region map) put onto its analysis grid.

Input validation (:mod:`wmhmap.validation`) holds each to the raw scan's grid. The
analysis grid is that scan after RAS reorientation and ANTs (N4), whose round trip
moves an oblique scan's affine slightly: 0.005 mm on a Singapore scan of the WMH
challenge (subject 50), which a 0.001 mm check refused. Within a twentieth of a voxel
the image is taken to lie on the analysis grid and is written with its affine, so
that every later check of the same grid holds exactly.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from wmhmap.errors import InputError
from wmhmap.geometry import reorient_to_ras, voxel_sizes
from wmhmap.imageio import like, same_grid

GRID_TOLERANCE_VOXELS = 0.05
"""How far (in voxels of the analysis grid) an expert image's affine may lie from it."""


def onto_analysis_grid(
    image: nib.Nifti1Image,
    grid: nib.Nifti1Image,
    *,
    role: str,
    subject: str,
    file: str | Path,
) -> nib.Nifti1Image:
    """``image`` (any orientation) reoriented to RAS and written on ``grid``'s affine.

    Raises :class:`InputError` naming the subject, file and fix when it is not on the
    grid (other shape, or an affine further than :data:`GRID_TOLERANCE_VOXELS`).

    >>> grid = nib.Nifti1Image(np.zeros((4, 4, 2), np.float32), np.diag([1.0, 1.0, 3.0, 1]))
    >>> shifted = np.diag([1.0, 1.0, 3.0, 1]); shifted[0, 3] = 0.005
    >>> mask = nib.Nifti1Image(np.ones((4, 4, 2), np.uint8), shifted)
    >>> out = onto_analysis_grid(mask, grid, role="lesion mask", subject="50", file="m.nii")
    >>> bool((out.affine == grid.affine).all()), int(np.asarray(out.dataobj).sum())
    (True, 32)
    >>> shifted[0, 3] = 0.5
    >>> onto_analysis_grid(nib.Nifti1Image(np.ones((4, 4, 2), np.uint8), shifted), grid,
    ...     role="lesion mask", subject="50", file="m.nii")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wmhmap.errors.InputError: subject 50, file m.nii: lesion mask is not on the grid...
    """
    ras = reorient_to_ras(image)
    if not same_grid(ras, grid, atol=GRID_TOLERANCE_VOXELS * min(voxel_sizes(grid))):
        raise InputError(
            f"{role} is not on the grid of the scan it belongs to",
            subject=subject,
            file=file,
            fix=f"give the {role} on the FLAIR grid (the T1w grid for subjects without FLAIR)",
        )
    return like(np.asarray(ras.dataobj), grid, ras.get_data_dtype())
