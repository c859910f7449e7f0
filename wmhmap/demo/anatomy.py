"""Template anatomy of the demo: the MNI152 2009 template that ships inside nilearn.

nilearn's wheel carries the ICBM 2009 symmetric template (T1, GM and WM probability
maps, brain mask) at 1 mm, so the demo needs no download. CSF is what the brain mask
holds beyond GM and WM; the lateral ventricles and the hippocampi are derived from
it and from GM with fixed MNI coordinates (documented below), because the template
ships no labels for them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

HIPPOCAMPUS_CENTRES_MM = ((-27.0, -24.0, -13.0), (27.0, -24.0, -13.0))
"""Approximate MNI centres of the left and right hippocampus."""
HIPPOCAMPUS_RADII_MM = (6.0, 15.0, 6.5)
LATERAL_VENTRICLE_BOX_MM = ((2.0, 35.0), (-50.0, 35.0), (-5.0, 35.0))
"""|x|, y and z ranges (MNI mm) searched for the lateral ventricles."""


@dataclass(frozen=True, eq=False)
class Template:
    """Tissue maps of the template on its 1 mm grid (all arrays share ``affine``)."""

    t1: FloatArray
    gm: FloatArray
    wm: FloatArray
    csf: FloatArray
    brain: BoolArray
    ventricles: BoolArray
    hippocampus: BoolArray
    affine: npt.NDArray[np.float64]

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.t1.shape
        return (s[0], s[1], s[2])

    def world_coordinates(self) -> npt.NDArray[np.float64]:
        """World (MNI mm) coordinates of every voxel, shape (3, *shape)."""
        ijk = np.indices(self.shape, dtype=np.float64)
        return np.einsum("ij,jklm->iklm", self.affine[:3, :3], ijk) + self.affine[:3, 3].reshape(
            3, 1, 1, 1
        )

    def coordinates_of(self, mask: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """World (MNI mm) coordinates of the voxels in ``mask``, shape (3, n)."""
        points = nib.affines.apply_affine(self.affine, np.argwhere(mask))
        return np.asarray(points.T, dtype=np.float64)

    def image(self, data: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> nib.Nifti1Image:
        """Wrap an array on the template grid as a NIfTI image."""
        img = nib.Nifti1Image(np.asarray(data).astype(dtype), self.affine)
        img.set_qform(self.affine, code=4)
        img.set_sform(self.affine, code=4)
        img.header.set_xyzt_units("mm", "sec")
        return img


def _lateral_ventricles(csf: FloatArray, affine: npt.NDArray[np.float64]) -> BoolArray:
    (ax_lo, ax_hi), (y_lo, y_hi), (z_lo, z_hi) = LATERAL_VENTRICLE_BOX_MM
    candidates = np.argwhere(csf > 0.5)
    x, y, z = nib.affines.apply_affine(affine, candidates).T
    keep = (np.abs(x) > ax_lo) & (np.abs(x) < ax_hi) & (y > y_lo) & (y < y_hi)
    keep &= (z > z_lo) & (z < z_hi)
    inside = np.zeros(csf.shape, dtype=bool)
    inside[tuple(candidates[keep].T)] = True
    labels, n = ndi.label(inside)
    if n == 0:
        raise RuntimeError("no lateral ventricles found in the template")
    sizes = np.bincount(labels.ravel())[1:]
    return np.isin(labels, np.flatnonzero(sizes >= 0.1 * sizes.max()) + 1)


def _hippocampi(gm: FloatArray, affine: npt.NDArray[np.float64]) -> BoolArray:
    mask = np.zeros(gm.shape, dtype=bool)
    inv = np.linalg.inv(affine)
    radii = np.asarray(HIPPOCAMPUS_RADII_MM)
    for centre in HIPPOCAMPUS_CENTRES_MM:
        lo = np.floor(nib.affines.apply_affine(inv, np.asarray(centre) - radii)).astype(int)
        hi = np.ceil(nib.affines.apply_affine(inv, np.asarray(centre) + radii)).astype(int) + 1
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        lo = np.clip(lo, 0, None)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        ijk = np.indices([b - a for a, b in zip(lo, hi, strict=True)]).reshape(3, -1).T + lo
        xyz = nib.affines.apply_affine(affine, ijk)
        inside = (((xyz - np.asarray(centre)) / radii) ** 2).sum(axis=1) <= 1.0
        mask[box] |= inside.reshape(mask[box].shape)
    return mask & (gm > 0.3)


def _nilearn_data(name: str) -> nib.Nifti1Image:
    """Load a file that ships inside nilearn's wheel without importing nilearn.datasets.

    (Importing it pulls in scikit-learn and costs seconds in every rule job.)
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nilearn is not installed; the demo needs its MNI152 template")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    img = nib.load(path)
    assert isinstance(img, nib.Nifti1Image)
    return img


@functools.lru_cache(maxsize=1)
def load_template(margin_mm: int = 6) -> Template:
    """The nilearn MNI152 2009 template, cropped to the brain plus ``margin_mm``.

    The brain mask is nilearn's definition (template T1 > 0.2); CSF is the rest of
    the mask beyond GM and WM.
    """
    t1_img = _nilearn_data("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
    t1 = np.asarray(t1_img.dataobj, dtype=np.float32)
    t1 /= t1.max()  # as nilearn's load_mni152_template
    brain = t1 > 0.2
    idx = np.argwhere(brain)
    lo = np.maximum(idx.min(axis=0) - margin_mm, 0)
    hi = np.minimum(idx.max(axis=0) + margin_mm + 1, t1.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    affine = np.asarray(t1_img.affine, dtype=np.float64).copy()
    affine[:3, 3] = nib.affines.apply_affine(affine, lo)
    t1, brain = t1[box], brain[box]
    # Stored as uint8 0..255; nilearn's loaders rescale each map by its maximum.
    gm = np.asarray(
        _nilearn_data("mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz").dataobj, dtype=np.float32
    )
    wm = np.asarray(
        _nilearn_data("mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz").dataobj, dtype=np.float32
    )
    gm = gm[box] / gm.max()
    wm = wm[box] / wm.max()
    gm = np.where(brain, gm, 0).astype(np.float32)
    wm = np.where(brain, wm, 0).astype(np.float32)
    csf = np.clip(brain.astype(np.float32) - gm - wm, 0, 1).astype(np.float32)
    return Template(
        t1=t1,
        gm=gm,
        wm=wm,
        csf=csf,
        brain=brain,
        ventricles=_lateral_ventricles(csf, affine),
        hippocampus=_hippocampi(gm, affine),
        affine=affine,
    )
