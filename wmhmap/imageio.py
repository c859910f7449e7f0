"""Reading, checking and writing NIfTI images (nibabel), and atomic file writes.

Every image a user hands us goes through :func:`load_image`, which reads the whole
volume (so a truncated file fails here, not half-way through a registration) and
checks what the rest of the workflow relies on: 3-D, finite, a usable affine and
plausible voxel sizes. Writers go through a temporary file and ``os.replace`` so a
killed job never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import nibabel as nib
import numpy as np
import numpy.typing as npt

from wmhmap.errors import InputError

VOXEL_MM_RANGE = (0.05, 12.0)
"""Voxel sizes outside this range (mm) are taken as a broken header."""


def load_image(
    path: str | Path,
    *,
    subject: str | None = None,
    role: str = "image",
    dtype: npt.DTypeLike | None = np.float32,
    allow_constant: bool = False,
) -> nib.Nifti1Image:
    """Load a NIfTI image fully into memory and check it can be used.

    Parameters
    ----------
    path
        ``.nii`` or ``.nii.gz`` file.
    subject, role
        Used in error messages only (``role`` e.g. ``"FLAIR"``, ``"T1w"``, ``"lesion mask"``).
    dtype
        Data type of the returned image's array; ``None`` keeps the on-disk type.
    allow_constant
        Accept an image whose voxels all share one value (an empty mask).

    Raises
    ------
    InputError
        Missing, unreadable, truncated, not 3-D (a trailing singleton 4th axis is
        dropped), non-finite values, degenerate affine, implausible voxel sizes, or a
        constant image.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(
            f"{role} file does not exist",
            subject=subject,
            file=path,
            fix="check the path in the sample sheet (relative paths are relative to the "
            "sample sheet's folder)",
        )
    if not path.is_file() or not os.access(path, os.R_OK):
        raise InputError(
            f"{role} path is not a readable file",
            subject=subject,
            file=path,
            fix="point the sample sheet at a readable .nii or .nii.gz file",
        )
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)  # type: ignore[attr-defined]
    except (
        EOFError,
        OSError,
        ValueError,
        zlib.error,
        gzip.BadGzipFile,
        nib.filebasedimages.ImageFileError,
    ) as exc:
        raise InputError(
            f"{role} cannot be read as NIfTI ({type(exc).__name__}: {exc}); the file is "
            "corrupt, truncated or not a NIfTI image",
            subject=subject,
            file=path,
            fix="re-export or re-copy the scan (e.g. dcm2niix) and check its size",
        ) from None
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise InputError(
            f"{role} is a {type(img).__name__}, not NIfTI",
            subject=subject,
            file=path,
            fix="convert it to .nii.gz",
        )
    data = check_array(data, img.affine, subject, path, role, allow_constant=allow_constant)
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    out = nib.Nifti1Image(data, img.affine, header=img.header)
    out.set_data_dtype(data.dtype)
    return out


def check_array(
    data: npt.NDArray[np.generic],
    affine: npt.NDArray[np.floating],
    subject: str | None,
    path: str | Path | None,
    role: str,
    *,
    allow_constant: bool = False,
) -> npt.NDArray[np.generic]:
    """Check a loaded image array and affine; return the 3-D array."""
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        shape = "x".join(str(s) for s in data.shape)
        raise InputError(
            f"{role} is {data.ndim}-D (shape {shape}), expected a 3-D volume",
            subject=subject,
            file=path,
            fix="pass a single 3-D volume (for a 4-D series extract one volume, e.g. "
            "fslroi or nibabel's slicer; a 2-D slice cannot be used)",
        )
    if min(data.shape) < 2:
        raise InputError(
            f"{role} has shape {'x'.join(str(s) for s in data.shape)}, a single slice",
            subject=subject,
            file=path,
            fix="pass the whole 3-D volume",
        )
    if np.issubdtype(data.dtype, np.floating):
        bad = ~np.isfinite(data)
        if bad.any():
            raise InputError(
                f"{role} holds {int(bad.sum())} NaN or infinite voxel value(s)",
                subject=subject,
                file=path,
                fix="replace them (e.g. fslmaths -nan) or re-export the scan",
            )
    linear = np.asarray(affine, dtype=float)[:3, :3]
    sizes = np.sqrt((linear**2).sum(axis=0))
    # degenerate: a zero axis or axes (nearly) in one plane; judged relative to the voxel
    # sizes so that a header in metres reads as implausible sizes, not as degenerate
    if (
        not np.all(np.isfinite(affine))
        or np.any(sizes == 0)
        or abs(np.linalg.det(linear)) < 1e-6 * float(np.prod(sizes))
    ):
        raise InputError(
            f"{role} has a degenerate or non-finite affine (qform/sform)",
            subject=subject,
            file=path,
            fix="repair the header orientation (e.g. fslorient, or re-run dcm2niix)",
        )
    lo, hi = VOXEL_MM_RANGE
    if np.any(sizes < lo) or np.any(sizes > hi):
        shown = " x ".join(f"{s:.3g}" for s in sizes)
        raise InputError(
            f"{role} has implausible voxel size {shown} mm (expected {lo}-{hi} mm)",
            subject=subject,
            file=path,
            fix="check the header units (mm) and pixdim",
        )
    if not allow_constant and data.size and np.ptp(data) == 0:
        raise InputError(
            f"{role} is constant (every voxel {data.flat[0]})",
            subject=subject,
            file=path,
            fix="check that the right file was exported",
        )
    return data


def voxel_volume_mm3(img: nib.Nifti1Image) -> float:
    """Volume of one voxel in mm^3 from the affine.

    >>> round(voxel_volume_mm3(nib.Nifti1Image(np.zeros((2, 2, 2)), np.diag([0.5, 0.5, 3, 1]))), 6)
    0.75
    """
    return float(abs(np.linalg.det(np.asarray(img.affine)[:3, :3])))


def same_grid(a: nib.Nifti1Image, b: nib.Nifti1Image, atol: float = 1e-3) -> bool:
    """True when two images share shape and affine (within ``atol`` mm)."""
    return a.shape[:3] == b.shape[:3] and np.allclose(a.affine, b.affine, atol=atol)


def like(
    data: npt.ArrayLike, reference: nib.Nifti1Image, dtype: npt.DTypeLike | None = None
) -> nib.Nifti1Image:
    """A new image holding ``data`` on the grid (affine) of ``reference``."""
    arr = np.asarray(data)
    if dtype is not None:
        arr = arr.astype(dtype)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    img = nib.Nifti1Image(arr, reference.affine)
    img.set_qform(reference.affine, code=1)
    img.set_sform(reference.affine, code=1)
    img.set_data_dtype(arr.dtype)
    return img


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    The temporary name keeps the file's suffixes so that libraries choosing the
    format by extension (nibabel, matplotlib, ANTs) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; a result gets the mode any new file would (umask)
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[str]]:
    """Open a text file for writing that appears at ``path`` only when complete."""
    with atomic_path(path) as tmp, open(tmp, mode, newline="") as fh:
        yield fh


def save_image(img: nib.Nifti1Image, path: str | Path) -> None:
    """Write ``img`` atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
