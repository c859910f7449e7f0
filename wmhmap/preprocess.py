"""Preprocessing of one scan: reorientation, N4, rigid T1 -> FLAIR, normalisation.

The analysis space of a subject is its FLAIR grid (reoriented to RAS), or its T1w
grid when there is no FLAIR: lesions are defined on FLAIR, expert masks and
reference volumes are usually drawn on it, and the WMH challenge scores there.
The T1w is brought onto it with a rigid registration, and atlas labels with one
resampling from atlas space (see :mod:`wmhmap.atlas`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from wmhmap.antspy import load_ants
from wmhmap.errors import InputError
from wmhmap.geometry import from_ants, to_ants, voxel_sizes
from wmhmap.imageio import like

LPS_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class N4Settings:
    """N4 parameters; the defaults trade little accuracy for a 4x speed-up at 1 mm."""

    shrink_mm: float = 6.0
    """Voxel size N4 fits at: the image is shrunk by round(shrink_mm / its finest
    spacing) (6 at 1 mm, 3 at 2 mm). The field is smooth (``spline_distance_mm``), so
    6 mm samples it well: at 1 mm, shrink 6 instead of 4 halves the time and changes
    the field by under 1 % (99 % of head voxels)."""
    iterations: tuple[int, ...] = (40, 30)
    tolerance: float = 1e-6
    spline_distance_mm: float = 180.0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> N4Settings:
        """Settings from the config block ``preprocess.n4``."""
        return cls(
            shrink_mm=float(cfg["shrink_mm"]),
            iterations=tuple(int(v) for v in cfg["iterations"]),
            spline_distance_mm=float(cfg["spline_distance_mm"]),
        )


@dataclass(frozen=True)
class LinearRegistrationSettings:
    """Multi-resolution schedule of a rigid or affine ANTs registration.

    Levels are given in millimetres, not as ANTs shrink factors, so one schedule works
    for any scanner resolution: a level of 2 mm shrinks a 1 mm image by 2 and leaves a
    2 mm image at full resolution (the shrink factor is ``round(level / finest voxel
    size)``, at least 1). Smoothing sigmas are in millimetres too.
    """

    shrink_mm: tuple[float, ...] = (8.0, 4.0, 2.0)
    smoothing_mm: tuple[float, ...] = (3.0, 2.0, 1.0)
    iterations: tuple[int, ...] = (100, 50, 10)
    sampling_rate: float = 0.15
    metric: str = "mattes"

    def __post_init__(self) -> None:
        n = len(self.shrink_mm)
        if len(self.smoothing_mm) != n or len(self.iterations) != n:
            raise InputError(
                "registration shrink_mm, smoothing_mm and iterations differ in length",
                fix="give one value per resolution level in each list",
            )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> LinearRegistrationSettings:
        """Settings from a config block (``preprocess.rigid`` or ``registration.affine``)."""
        return cls(
            shrink_mm=tuple(float(v) for v in cfg["shrink_mm"]),
            smoothing_mm=tuple(float(v) for v in cfg["smoothing_mm"]),
            iterations=tuple(int(v) for v in cfg["iterations"]),
            sampling_rate=float(cfg["sampling_rate"]),
        )

    def shrink_factors(self, spacing_mm: float) -> tuple[int, ...]:
        """ANTs shrink factors for an image whose finest voxel side is ``spacing_mm``.

        >>> LinearRegistrationSettings().shrink_factors(1.0)
        (8, 4, 2)
        >>> LinearRegistrationSettings().shrink_factors(2.0)
        (4, 2, 1)
        """
        return tuple(max(1, round(level / spacing_mm)) for level in self.shrink_mm)


@dataclass
class LinearTransform:
    """A linear transform mapping *fixed*-space world points to *moving*-space points.

    This is the direction ANTs stores and the one resampling needs. ``matrix_ras`` is
    the 4x4 matrix in RAS world coordinates (nibabel's convention).
    """

    matrix_ras: npt.NDArray[np.float64]
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_ants(self) -> Any:
        """The equivalent ANTsPy ``AffineTransform`` (LPS, centre 0)."""
        ants = load_ants()

        lps = LPS_FLIP @ self.matrix_ras @ LPS_FLIP
        tx = ants.create_ants_transform(
            transform_type="AffineTransform",
            dimension=3,
            matrix=lps[:3, :3],
            offset=lps[:3, 3],
        )
        return tx

    @classmethod
    def from_ants(cls, tx: Any, **metadata: Any) -> LinearTransform:
        params = np.asarray(tx.parameters, dtype=np.float64)
        centre = np.asarray(tx.fixed_parameters, dtype=np.float64)
        a = params[:9].reshape(3, 3)
        t = params[9:12]
        lps = np.eye(4)
        lps[:3, :3] = a
        lps[:3, 3] = t + centre - a @ centre
        return cls(LPS_FLIP @ lps @ LPS_FLIP, dict(metadata))

    def write(self, path: str | Path) -> None:
        """Write as an ITK/ANTs ``.mat`` transform file."""
        ants = load_ants()

        ants.write_transform(self.to_ants(), str(path))

    @classmethod
    def read(cls, path: str | Path) -> LinearTransform:
        ants = load_ants()

        return cls.from_ants(ants.read_transform(str(path)))

    def inverse(self) -> LinearTransform:
        inverse = np.asarray(np.linalg.inv(self.matrix_ras), dtype=np.float64)
        return LinearTransform(inverse, dict(self.metadata))

    def then(self, other: LinearTransform) -> LinearTransform:
        """The transform mapping a point by ``self``, then by ``other``.

        >>> shift = LinearTransform(np.diag([1.0, 1, 1, 1]))
        >>> shift.matrix_ras[0, 3] = 5
        >>> double = LinearTransform(np.diag([2.0, 2, 2, 1]))
        >>> shift.then(double).matrix_ras[0, 3]
        np.float64(10.0)
        """
        return LinearTransform(
            np.asarray(other.matrix_ras @ self.matrix_ras, dtype=np.float64), dict(self.metadata)
        )

    def rotation_deg(self) -> float:
        """Rotation angle (degrees) of the matrix's orthogonal part."""
        u, _, vt = np.linalg.svd(self.matrix_ras[:3, :3])
        return float(np.degrees(Rotation.from_matrix(u @ vt).magnitude()))


# ----------------------------------------------------------------------------- N4


def foreground_mask(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """Head (foreground) mask: above the mean intensity, closed, holes filled, largest piece.

    :func:`correct_bias_n4` runs within it when given no mask (the workflow gives the
    brain mask, :func:`prepare_scan`): about 4x faster than on the whole field of view,
    and the air around the head, which carries no bias information, is left out. (The
    same recipe as ``ants.get_mask``, in a tenth of its time.)
    """
    data = np.asarray(img.dataobj, dtype=np.float32)
    mask = ndi.binary_closing(data > data.mean(), iterations=2)
    labels, n = ndi.label(mask)
    if n > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        mask = labels == int(sizes.argmax())
    filled = ndi.binary_fill_holes(mask)
    return like(np.asarray(filled, dtype=np.uint8), img, np.uint8)


MIN_SHRUNK_VOXELS = 8
"""Fewest voxels N4 keeps along any axis when it shrinks an image (:func:`n4_shrink_factors`)."""

MIN_CONTRAST_RATIO = 0.25
"""Least share of a scan's intensity spread in the brain that bias correction may keep
(:func:`check_contrast_kept`): a smooth field cannot remove the contrast between tissues."""


def n4_shrink_factors(
    shape: Sequence[int], spacing_mm: Sequence[float], shrink_mm: float
) -> tuple[int, ...]:
    """Per-axis shrink factors that bring every voxel side near ``shrink_mm``.

    One factor for every axis (N4's own ``-s``) ruins thick-slice scans: at 0.5 x 0.5 x 8 mm
    the in-plane factor of 12 leaves one of 16 slices, and the fitted field then equals the
    image. Each axis gets its own factor, never so large that fewer than
    :data:`MIN_SHRUNK_VOXELS` voxels are left along it.

    >>> n4_shrink_factors((400, 400, 16), (0.5, 0.5, 8.0), 6.0)
    (12, 12, 1)
    >>> n4_shrink_factors((181, 217, 181), (1.0, 1.0, 1.0), 6.0)
    (6, 6, 6)
    >>> n4_shrink_factors((64, 64, 12), (0.25, 0.25, 1.0), 6.0)
    (8, 8, 1)
    """
    factors = []
    for n, size in zip(shape, spacing_mm, strict=True):
        wanted = max(1, round(shrink_mm / size))
        factors.append(int(max(1, min(wanted, n // MIN_SHRUNK_VOXELS))))
    return tuple(factors)


def _block_mean(data: npt.NDArray[np.float32], factors: Sequence[int]) -> npt.NDArray[np.float32]:
    """Mean over blocks of ``factors`` voxels (edges padded by repetition)."""
    pad = [(0, (-n) % f) for n, f in zip(data.shape, factors, strict=True)]
    padded = np.pad(data, pad, mode="edge")
    shape: list[int] = []
    for n, f in zip(padded.shape, factors, strict=True):
        shape += [n // f, f]
    return np.asarray(padded.reshape(shape).mean(axis=(1, 3, 5)), dtype=np.float32)


def _shrunk_affine(
    affine: npt.NDArray[np.float64], factors: Sequence[int]
) -> npt.NDArray[np.float64]:
    """Affine of the block grid of :func:`_block_mean` (block centres)."""
    f = np.asarray(factors, dtype=np.float64)
    to_fine = np.eye(4)
    to_fine[:3, :3] = np.diag(f)
    to_fine[:3, 3] = (f - 1) / 2
    return np.asarray(affine @ to_fine, dtype=np.float64)


def _interpolate_axis(
    values: npt.NDArray[np.floating[Any]], positions: npt.NDArray[np.float64], axis: int
) -> npt.NDArray[np.float64]:
    """Linear interpolation of ``values`` along ``axis`` at fractional ``positions``
    (edges held); one axis at a time, so no full-volume coordinate arrays."""
    n = values.shape[axis]
    pos = np.clip(positions, 0, n - 1)
    lo = np.minimum(np.floor(pos).astype(np.intp), max(n - 2, 0))
    hi = np.minimum(lo + 1, n - 1)
    shape = [1] * values.ndim
    shape[axis] = len(pos)
    w = (pos - lo).reshape(shape)
    return np.asarray(
        np.take(values, lo, axis=axis) * (1 - w) + np.take(values, hi, axis=axis) * w,
        dtype=np.float64,
    )


def correct_bias_n4(
    img: nib.Nifti1Image,
    mask: nib.Nifti1Image | None = None,
    settings: N4Settings | None = None,
) -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    """N4 bias-field correction (ANTsPy), fitted on a grid shrunk per axis.

    The image and mask are averaged over blocks of :func:`n4_shrink_factors` voxels, N4
    fits the field there (its own shrink off), and the log field is interpolated back
    onto the full grid (linear, edges held: the field is a B-spline with control points
    ``spline_distance_mm`` apart, far smoother than one block).

    Returns
    -------
    corrected, bias_field
        Both on the grid of ``img``; ``corrected * bias_field ~= img`` inside the mask.
    """
    ants = load_ants()

    s = settings or N4Settings()
    data = np.asarray(img.dataobj, dtype=np.float32)
    if float(data.min()) < 0:
        data = data - float(data.min())
    mask_data = np.asarray(
        (mask if mask is not None else foreground_mask(img)).dataobj, dtype=np.float32
    )
    factors = n4_shrink_factors(data.shape, voxel_sizes(img), s.shrink_mm)
    small_affine = _shrunk_affine(img.affine, factors)
    small = to_ants(nib.Nifti1Image(_block_mean(data, factors), small_affine))
    small_mask = to_ants(
        nib.Nifti1Image((_block_mean(mask_data, factors) > 0.5).astype(np.float32), small_affine)
    )
    if float(small_mask.sum()) == 0:
        raise InputError("the mask N4 fits in is empty", fix="check the brain mask of this scan")
    field = ants.n4_bias_field_correction(
        small,
        mask=small_mask,
        shrink_factor=1,
        convergence={"iters": list(s.iterations), "tol": s.tolerance},
        spline_param=s.spline_distance_mm,
        return_bias_field=True,
    )
    log_field = np.log(np.maximum(field.numpy(), 1e-6))
    for axis, (n, k) in enumerate(zip(data.shape, factors, strict=True)):
        log_field = _interpolate_axis(log_field, (np.arange(n) - (k - 1) / 2) / k, axis)
    bias_data = np.exp(log_field)
    corrected = data / np.maximum(bias_data, 1e-6)
    return like(corrected.astype(np.float32), img, np.float32), like(
        bias_data.astype(np.float32), img, np.float32
    )


def intensity_spread(data: npt.ArrayLike, mask: npt.ArrayLike) -> float:
    """Robust relative spread of intensities in ``mask``: (p98 - p2) / median.

    >>> round(intensity_spread(np.arange(1, 101, dtype=float), np.ones(100, bool)), 2)
    1.88
    """
    values = np.asarray(data, dtype=np.float64)[np.asarray(mask, dtype=bool)]
    lo, mid, hi = np.percentile(values, [2, 50, 98])
    return float((hi - lo) / mid) if mid > 0 else 0.0


def check_contrast_kept(
    raw: nib.Nifti1Image,
    corrected: nib.Nifti1Image,
    mask: npt.ArrayLike,
    *,
    subject: str | None = None,
    file: str | Path | None = None,
) -> float:
    """Stop when bias correction flattened a scan; return the kept share of its spread.

    A bias field is smooth, so correcting it narrows the intensity spread in the brain
    only a little (the field's own share); a fit that follows the anatomy divides the
    image by itself and leaves a near-constant brain (N4 on one slice did).
    """
    m = np.asarray(mask, dtype=bool)
    before = intensity_spread(np.asarray(raw.dataobj), m)
    after = intensity_spread(np.asarray(corrected.dataobj), m)
    kept = after / before if before > 0 else 0.0
    if before <= 0 or kept < MIN_CONTRAST_RATIO:
        raise InputError(
            f"bias correction left {kept:.0%} of the intensity spread in the brain "
            f"({before:.3g} -> {after:.3g}; at least {MIN_CONTRAST_RATIO:.0%} expected): "
            "the corrected image has lost its contrast",
            subject=subject,
            file=file,
            fix="check the scan's geometry (slice thickness, number of slices) and "
            "preprocess.n4 (shrink_mm, spline_distance_mm); a scan with no contrast "
            "cannot be used",
        )
    return kept


@dataclass(frozen=True)
class PreparedScan:
    """A scan reoriented to RAS and bias-corrected, with its brain mask."""

    image: nib.Nifti1Image
    brain: nib.Nifti1Image
    brain_ml: float
    contrast_kept: float


def prepare_scan(
    raw: nib.Nifti1Image,
    settings: N4Settings | None = None,
    *,
    threads: int = 1,
    subject: str | None = None,
    file: str | Path | None = None,
) -> PreparedScan:
    """Reorient to RAS, extract the brain (deepbet), correct the bias field inside it.

    N4 fits inside the brain mask: the scalp, neck and air carry no information on the
    brain's field, and the dark rim just outside the brain pulls the fit (grown by 3 mm,
    the mask halved the faint T1w lesions a z-score finds on a demo subject; by 10 mm it
    lost them all). The corrected image must keep its contrast (:func:`check_contrast_kept`).
    """
    from wmhmap.brainmask import extract_brain
    from wmhmap.geometry import reorient_to_ras

    ras = reorient_to_ras(raw)
    brain = extract_brain(ras, threads=threads, subject=subject, file=file)
    inside = np.asarray(brain.mask.dataobj) > 0
    corrected, _ = correct_bias_n4(ras, mask=brain.mask, settings=settings)
    kept = check_contrast_kept(ras, corrected, inside, subject=subject, file=file)
    return PreparedScan(corrected, brain.mask, brain.volume_ml, kept)


def white_matter_cv(img: nib.Nifti1Image, wm_mask: npt.ArrayLike) -> float:
    """Coefficient of variation of intensities inside a white-matter mask."""
    values = np.asarray(img.dataobj)[np.asarray(wm_mask, dtype=bool)]
    return float(values.std() / values.mean())


# --------------------------------------------------------------------- registration


def register_linear(
    fixed: nib.Nifti1Image,
    moving: nib.Nifti1Image,
    *,
    kind: str = "Rigid",
    settings: LinearRegistrationSettings | None = None,
    fixed_mask: nib.Nifti1Image | None = None,
    initial: LinearTransform | None = None,
) -> LinearTransform:
    """Rigid or affine ANTs registration of ``moving`` to ``fixed`` (mutual information).

    Starts from the centres of mass (or from ``initial``) so images whose headers do
    not share an origin still meet.
    """
    ants = load_ants()

    if kind not in {"Rigid", "Affine", "Similarity"}:
        raise InputError(f"unknown linear registration kind {kind!r}", fix="use Rigid or Affine")
    s = settings or LinearRegistrationSettings()
    with tempfile.TemporaryDirectory(prefix="wmhmap-reg-") as tmp:
        init = None
        if initial is not None:
            init_path = str(Path(tmp) / "init.mat")
            initial.write(init_path)
            init = [init_path]
        reg = ants.registration(
            fixed=to_ants(fixed),
            moving=to_ants(moving),
            type_of_transform=kind,
            initial_transform=init,
            outprefix=str(Path(tmp) / "reg_"),
            mask=None if fixed_mask is None else to_ants(fixed_mask),
            aff_metric=s.metric,
            aff_random_sampling_rate=s.sampling_rate,
            aff_iterations=tuple(s.iterations),
            aff_shrink_factors=s.shrink_factors(min(voxel_sizes(fixed))),
            aff_smoothing_sigmas=tuple(s.smoothing_mm),
            smoothing_in_mm=True,
        )
        transforms = reg["fwdtransforms"]
        if len(transforms) != 1:
            raise RuntimeError(f"expected one linear transform, ANTs returned {transforms}")
        return LinearTransform.from_ants(ants.read_transform(transforms[0]), kind=kind)


INTERPOLATORS = {
    "linear": "linear",
    "nearest": "nearestNeighbor",
    "label": "genericLabel",
    "mask": "linear",
    "bspline": "bSpline",
}


def apply_linear(
    moving: nib.Nifti1Image,
    reference: nib.Nifti1Image,
    transforms: list[LinearTransform],
    *,
    interpolation: str = "linear",
) -> nib.Nifti1Image:
    """Resample ``moving`` onto ``reference``'s grid through a chain of transforms (ANTs).

    Each transform maps reference-side points to moving-side points (what ANTs
    registration returns for fixed=reference, moving=moving). They chain in list order,
    as antsApplyTransforms' ``-t`` list does for points (measured, see the tests): a
    reference-grid point x samples ``moving`` at ``transforms[-1](...transforms[0](x))``.
    List the transform nearest to ``reference`` first, e.g. ``[flair_to_t1,
    t1_to_atlas]`` carries atlas labels onto the FLAIR grid in one resampling.

    ``interpolation`` is ``linear``, ``bspline``, ``nearest``, ``label`` (ANTs'
    ``genericLabel``: each label is smoothed and the most likely label wins, which
    keeps thin regions when going from 1 mm to thick slices) or ``mask`` (a binary
    mask: linear interpolation, then > 0.5; the two-label case of ``label`` at a
    tenth of its time).
    """
    ants = load_ants()

    if interpolation not in INTERPOLATORS:
        raise ValueError(
            f"interpolation must be one of {sorted(INTERPOLATORS)}, got {interpolation!r}"
        )
    labels = interpolation in {"nearest", "label"}
    src = np.asarray(moving.dataobj)
    with tempfile.TemporaryDirectory(prefix="wmhmap-tx-") as tmp:
        paths = []
        for i, t in enumerate(transforms):
            path = str(Path(tmp) / f"t{i}.mat")
            t.write(path)
            paths.append(path)
        if not paths:
            path = str(Path(tmp) / "identity.mat")
            LinearTransform(np.eye(4)).write(path)
            paths.append(path)
        out = ants.apply_transforms(
            fixed=to_ants(reference),
            moving=to_ants(moving.__class__(src.astype(np.float32), moving.affine)),
            transformlist=paths,
            interpolator=INTERPOLATORS[interpolation],
        )
    data = out.numpy()
    if interpolation == "mask":
        return like(data > 0.5, reference, np.uint8)
    if labels:
        return like(
            np.rint(data).astype(src.dtype if src.dtype.kind in "iub" else np.int16), reference
        )
    return like(data.astype(np.float32), reference, np.float32)


def resample_to_spacing(img: nib.Nifti1Image, spacing_mm: float) -> nib.Nifti1Image:
    """``img`` resampled (linear, ANTs) to isotropic ``spacing_mm`` voxels, same extent."""
    ants = load_ants()

    out = ants.resample_image(to_ants(img), (spacing_mm,) * 3, use_voxels=False, interp_type=0)
    return from_ants(out, np.float32)


def transform_error_mm(
    estimated: LinearTransform, truth: npt.NDArray[np.float64], points: npt.NDArray[np.float64]
) -> float:
    """Largest distance (mm) between where two transforms send the same points.

    ``points`` is (n, 3) world coordinates, e.g. brain voxel centres.
    """
    a = nib.affines.apply_affine(estimated.matrix_ras, points)
    b = nib.affines.apply_affine(truth, points)
    return float(np.sqrt(((a - b) ** 2).sum(axis=1)).max())


# --------------------------------------------------------------------- intensities


def normalize_percentiles(
    img: nib.Nifti1Image,
    mask: npt.ArrayLike,
    low: float = 0.0,
    high: float = 98.0,
    *,
    zero_outside: bool = True,
) -> nib.Nifti1Image:
    """Scale intensities so the ``low`` and ``high`` percentiles inside ``mask`` become 0 and 1.

    Robust to the few very bright voxels that a min-max scaling would let set the
    scale. Values below 0 are clipped; values above 1 are kept, because the brightest
    2 % of a FLAIR brain are largely the hyperintensities themselves, and clipping them
    would erase the contrast between lesions and bright grey matter.

    Examples
    --------
    >>> im = nib.Nifti1Image(np.arange(100, dtype=np.float32).reshape(4, 5, 5), np.eye(4))
    >>> out = normalize_percentiles(im, np.ones((4, 5, 5), bool), 0, 50).get_fdata()
    >>> float(out.min()), round(float(out[2, 0, 0]), 4), round(float(out.max()), 4)
    (0.0, 1.0101, 2.0)
    """
    data = np.asarray(img.dataobj, dtype=np.float32)
    m = np.asarray(mask, dtype=bool)
    if m.shape != data.shape:
        raise InputError(
            f"mask shape {m.shape} differs from image shape {data.shape}",
            fix="resample the mask onto the image grid",
        )
    if not m.any():
        raise InputError("the brain mask is empty", fix="check the registration QC of this subject")
    lo, hi = np.percentile(data[m], [low, high])
    if hi <= lo:
        raise InputError(
            f"image is flat inside the mask ({low}th and {high}th percentiles are both {lo:g})",
            fix="check that the scan holds an image of the head",
        )
    out = np.clip((data - lo) / (hi - lo), 0.0, None)
    if zero_outside:
        out[~m] = 0.0
    return like(out.astype(np.float32), img, np.float32)


def dilate_mask(
    mask: npt.ArrayLike, img: nib.Nifti1Image, radius_mm: float
) -> npt.NDArray[np.bool_]:
    """Dilate a mask by ``radius_mm`` (anisotropic voxels respected)."""
    return dilate_mask_mm(mask, voxel_sizes(img), radius_mm)


def dilate_mask_mm(
    mask: npt.ArrayLike, sizes: Sequence[float], radius_mm: float
) -> npt.NDArray[np.bool_]:
    """Dilate a mask by ``radius_mm`` given the voxel sizes in mm (Euclidean distance)."""
    m = np.asarray(mask, dtype=bool)
    if radius_mm <= 0 or not m.any():
        return m
    # distances only within the mask's bounding box grown by the radius (5x faster on
    # a brain in a 1 mm head volume than over the whole field of view)
    margin = np.ceil(radius_mm / np.asarray(sizes)).astype(int) + 1
    nonzero = np.argwhere(m)
    lo = np.maximum(nonzero.min(axis=0) - margin, 0)
    hi = np.minimum(nonzero.max(axis=0) + margin + 1, m.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    out = np.zeros_like(m)
    out[box] = ndi.distance_transform_edt(~m[box], sampling=sizes) <= radius_mm
    return out
