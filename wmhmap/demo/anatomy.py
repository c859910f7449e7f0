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

    def image(self, data: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> nib.Nifti1Image:
        """Wrap an array on the template grid as a NIfTI image."""
        img = nib.Nifti1Image(np.asarray(data).astype(dtype), self.affine)
        img.set_qform(self.affine, code=4)
        img.set_sform(self.affine, code=4)
        img.header.set_xyzt_units("mm", "sec")
        return img


def _lateral_ventricles(csf: FloatArray, xyz: npt.NDArray[np.float64]) -> BoolArray:
    (ax_lo, ax_hi), (y_lo, y_hi), (z_lo, z_hi) = LATERAL_VENTRICLE_BOX_MM
    x, y, z = xyz
    box = (np.abs(x) > ax_lo) & (np.abs(x) < ax_hi) & (y > y_lo) & (y < y_hi)
    box &= (z > z_lo) & (z < z_hi)
    labels, n = ndi.label((csf > 0.5) & box)
    if n == 0:
        raise RuntimeError("no lateral ventricles found in the template")
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= 0.1 * sizes.max()) + 1
    return np.isin(labels, keep)


def _hippocampi(gm: FloatArray, xyz: npt.NDArray[np.float64]) -> BoolArray:
    mask = np.zeros(gm.shape, dtype=bool)
    radii = np.asarray(HIPPOCAMPUS_RADII_MM).reshape(3, 1, 1, 1)
    for centre in HIPPOCAMPUS_CENTRES_MM:
        d = (xyz - np.asarray(centre).reshape(3, 1, 1, 1)) / radii
        mask |= (d**2).sum(axis=0) <= 1.0
    return mask & (gm > 0.3)


@functools.lru_cache(maxsize=1)
def load_template() -> Template:
    """Load the nilearn MNI152 2009 template with derived CSF, ventricles and hippocampi."""
    from nilearn import datasets

    t1_img = datasets.load_mni152_template(resolution=1)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=1).dataobj, dtype=np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).dataobj, dtype=np.float32)
    brain = np.asarray(datasets.load_mni152_brain_mask(resolution=1).dataobj) > 0
    t1 = np.asarray(t1_img.dataobj, dtype=np.float32)
    affine = np.asarray(t1_img.affine, dtype=np.float64)
    gm = np.where(brain, gm, 0).astype(np.float32)
    wm = np.where(brain, wm, 0).astype(np.float32)
    csf = np.clip(brain.astype(np.float32) - gm - wm, 0, 1).astype(np.float32)
    ijk = np.indices(t1.shape, dtype=np.float64)
    xyz = np.einsum("ij,jklm->iklm", affine[:3, :3], ijk) + affine[:3, 3].reshape(3, 1, 1, 1)
    return Template(
        t1=t1,
        gm=gm,
        wm=wm,
        csf=csf,
        brain=brain,
        ventricles=_lateral_ventricles(csf, xyz),
        hippocampus=_hippocampi(gm, xyz),
        affine=affine,
    )
