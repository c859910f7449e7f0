"""Orientation, grids and the bridge between nibabel images and ANTsPy images."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np
import numpy.typing as npt
from nibabel import orientations as ornt

from wmhmap.antspy import load_ants

if TYPE_CHECKING:
    import ants


def orientation_code(img: nib.Nifti1Image) -> str:
    """Axis codes of the voxel axes, e.g. ``"RAS"`` or ``"LPS"``.

    >>> orientation_code(nib.Nifti1Image(np.zeros((2, 2, 2)), np.diag([-1, -1, 1, 1])))
    'LPS'
    """
    return "".join(nib.aff2axcodes(img.affine))


def reorient(img: nib.Nifti1Image, code: str) -> nib.Nifti1Image:
    """Reorder/flip voxel axes so they run along ``code`` (e.g. ``"LPS"``).

    The world position of every voxel is unchanged; only the storage order is.
    """
    start = ornt.io_orientation(img.affine)
    end = ornt.axcodes2ornt(tuple(code))
    transform = ornt.ornt_transform(start, end)
    data = ornt.apply_orientation(np.asanyarray(img.dataobj), transform)
    affine = img.affine @ ornt.inv_ornt_aff(transform, img.shape[:3])
    out = nib.Nifti1Image(data, affine, header=img.header)
    out.set_qform(affine, code=1)
    out.set_sform(affine, code=1)
    return out


def reorient_to_ras(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """Reorient to the closest canonical (RAS+) storage order, as MNI templates use."""
    return reorient(img, "RAS")


def world_corners(img: nib.Nifti1Image) -> npt.NDArray[np.float64]:
    """World coordinates (mm) of the 8 outer corners of the field of view."""
    shape = np.asarray(img.shape[:3], dtype=float)
    corners = np.array(list(itertools.product(*[(-0.5, s - 0.5) for s in shape])))
    return np.asarray(nib.affines.apply_affine(img.affine, corners), dtype=np.float64)


def fov_overlap(a: nib.Nifti1Image, b: nib.Nifti1Image) -> float:
    """Fraction of the smaller field of view that the two bounding boxes share.

    Computed on world-space axis-aligned bounding boxes; 0 means the images do not
    overlap at all (wrong header or wrong file), 1 means one contains the other.
    """
    ca, cb = world_corners(a), world_corners(b)
    lo = np.maximum(ca.min(0), cb.min(0))
    hi = np.minimum(ca.max(0), cb.max(0))
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    vol_a = float(np.prod(ca.max(0) - ca.min(0)))
    vol_b = float(np.prod(cb.max(0) - cb.min(0)))
    return inter / min(vol_a, vol_b)


def voxel_sizes(img: nib.Nifti1Image) -> tuple[float, float, float]:
    """Voxel edge lengths (mm) along the three array axes."""
    z = np.sqrt((np.asarray(img.affine)[:3, :3] ** 2).sum(axis=0))
    return (float(z[0]), float(z[1]), float(z[2]))


def to_ants(img: nib.Nifti1Image, pixeltype: str = "float") -> ants.ANTsImage:
    """Convert a nibabel image to an ANTsPy image in memory (no temporary file)."""
    ants = load_ants()

    data = np.asanyarray(img.dataobj)
    if pixeltype == "float":
        data = data.astype(np.float32, copy=False)
    clean = nib.Nifti1Image(data, img.affine)
    clean.header.set_xyzt_units("mm", "sec")
    return ants.from_nibabel_nifti(clean, pixeltype=pixeltype)


def from_ants(image: ants.ANTsImage, dtype: npt.DTypeLike | None = None) -> nib.Nifti1Image:
    """Convert an ANTsPy image to nibabel, with qform/sform set and units in mm."""
    ants = load_ants()

    out = ants.to_nibabel_nifti(image)
    data = np.asanyarray(out.dataobj)
    if dtype is not None:
        data = data.astype(dtype)
    img = nib.Nifti1Image(data, out.affine)
    img.set_qform(out.affine, code=1)
    img.set_sform(out.affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    img.set_data_dtype(data.dtype)
    return img
