"""Synthetic T1 + FLAIR head scans with known lesions, regions and volumes.

Every demo subject is the template anatomy seen through a known, invertible chain
of transforms, with lesions painted into it, imaged by a "scanner" with its own
grid, contrast, bias field and noise:

1. lesions are planted in template space (white matter only): periventricular caps
   and bands hugging the lateral ventricles, deep punctate and confluent lesions (a
   background load that grows with age), plus a diagnosis-dependent load placed in
   the *signal regions* (config), so that regional loads separate diagnoses better
   than the global load does;
2. the backward map from a subject's scanner world to template world is
   head pose (random rotation, translation, head size) -> smooth random
   nonlinear displacement -> atrophy (ventricles widen and hippocampi shrink with
   diagnosis); the FLAIR session adds a rigid head motion, so T1 and FLAIR are
   not co-registered;
3. tissue, lesion and label maps are anti-aliased to each scan's voxel size and
   sampled on its grid; intensities follow from tissue fractions (T1: WM > GM > CSF,
   lesions darker than WM; FLAIR: CSF suppressed, GM > WM, lesions bright), times a
   smooth multiplicative bias field, with Rician noise, stored as int16 in the
   site's orientation (some sites store LPS, like DICOM converters often do).

Because the maps are sampled through the same transforms, the true lesion mask
and region map on the FLAIR grid, and the true tissue volumes, are exact.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from wmhmap.demo.anatomy import Template
from wmhmap.geometry import reorient

FloatArray = npt.NDArray[np.float64]

# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ScannerProfile:
    """How one site's scanner images a head."""

    t1_voxel_mm: tuple[float, float, float]
    flair_voxel_mm: tuple[float, float, float]
    t1_orientation: str = "RAS"
    flair_orientation: str = "RAS"
    noise: float = 0.03
    """Rician noise SD as a fraction of the white-matter signal."""
    bias: float = 0.15
    """Amplitude (log scale) of the smooth multiplicative bias field."""
    gain: float = 1000.0
    t1_contrast: tuple[float, float, float, float] = (0.25, 0.60, 0.88, 0.55)
    """Signal of CSF, GM, WM and lesion on T1."""
    flair_contrast: tuple[float, float, float, float] = (0.10, 0.70, 0.52, 1.15)
    """Signal of CSF, GM, WM and lesion on FLAIR."""


def scanner_profiles(
    t1_voxel_mm: tuple[float, float, float],
    flair_voxel_mm: tuple[float, float, float],
    n_sites: int,
) -> dict[str, ScannerProfile]:
    """Site profiles around the configured resolution.

    Sites differ the way real scanners do: storage orientation (RAS or LPS), FLAIR
    in-plane resolution and slice thickness, noise, bias-field strength, gain and
    tissue contrast.
    """
    from wmhmap.demo.cohort import site_name

    variants = [
        {"noise": 0.030, "bias": 0.15, "gain": 1000.0, "flair_scale": (1.0, 1.0, 1.0)},
        {
            "noise": 0.040,
            "bias": 0.25,
            "gain": 750.0,
            "flair_scale": (0.9, 0.9, 1.15),
            "t1_orientation": "LPS",
            "flair_orientation": "LPS",
            "t1_contrast": (0.22, 0.57, 0.90, 0.50),
            "flair_contrast": (0.08, 0.74, 0.55, 1.25),
        },
        {
            "noise": 0.035,
            "bias": 0.20,
            "gain": 1400.0,
            "flair_scale": (1.1, 1.1, 0.9),
            "flair_orientation": "LPS",
            "t1_contrast": (0.28, 0.62, 0.86, 0.58),
            "flair_contrast": (0.12, 0.68, 0.50, 1.05),
        },
    ]
    profiles = {}
    for i in range(n_sites):
        v = dict(variants[i % len(variants)])
        scale: tuple[float, float, float] = v.pop("flair_scale")  # type: ignore[assignment]
        flair = tuple(float(a * b) for a, b in zip(flair_voxel_mm, scale, strict=True))
        profiles[site_name(i)] = ScannerProfile(
            t1_voxel_mm=t1_voxel_mm,
            flair_voxel_mm=(flair[0], flair[1], flair[2]),
            **v,  # type: ignore[arg-type]
        )
    return profiles


def randomised_profile(rng: np.random.Generator) -> ScannerProfile:
    """A scanner drawn at random: domain randomisation of the demo's images.

    FLAIR: CSF, grey matter and lesions relative to white matter (0.1-0.9x, 0.95-1.45x,
    1.15-2.2x), in-plane voxels 0.9-1.5 mm and slices 1-6 mm, storage RAS or LPS, Rician
    noise 1-8 % of the white-matter signal, bias amplitude 0-0.4, gain 300-3000. T1w:
    CSF 0.15-0.4, grey matter 0.5-0.7, white matter 0.8-0.95, lesions 0.45-0.75, 1-1.5 mm
    isotropic voxels. A lesion model trained on such phantoms transfers to real FLAIR
    far better than one trained on the demo's three scanners
    (``benchmarks/bench_domain_randomised.py``: Dice 0.27 against 0.02).

    >>> a = randomised_profile(np.random.default_rng(1))
    >>> a == randomised_profile(np.random.default_rng(1)), 1.0 <= a.flair_voxel_mm[2] <= 6.0
    (True, True)
    >>> 1.15 <= a.flair_contrast[3] / a.flair_contrast[2] <= 2.2
    True
    """
    wm = 0.5
    csf = wm * rng.uniform(0.1, 0.9)
    gm = wm * rng.uniform(0.95, 1.45)
    lesion = wm * rng.uniform(1.15, 2.2)
    inplane = float(rng.uniform(0.9, 1.5))
    flair_voxel = (inplane, inplane, float(rng.uniform(1.0, 6.0)))
    orientation = str(rng.choice(["RAS", "LPS"]))
    noise, bias, gain = (float(rng.uniform(*r)) for r in ((0.01, 0.08), (0.0, 0.4), (300, 3000)))
    t1_voxel = float(rng.uniform(1.0, 1.5))
    t1_contrast = tuple(
        float(rng.uniform(*r)) for r in ((0.15, 0.4), (0.5, 0.7), (0.8, 0.95), (0.45, 0.75))
    )
    return ScannerProfile(
        t1_voxel_mm=(t1_voxel, t1_voxel, t1_voxel),
        flair_voxel_mm=flair_voxel,
        flair_orientation=orientation,
        noise=noise,
        bias=bias,
        gain=gain,
        t1_contrast=(t1_contrast[0], t1_contrast[1], t1_contrast[2], t1_contrast[3]),
        flair_contrast=(csf, gm, wm, lesion),
    )


@dataclass(frozen=True)
class LesionModel:
    """How much white matter disease each diagnosis carries, and where."""

    median_ml: dict[str, float] = field(default_factory=lambda: {"CN": 3.5, "MCI": 3.5, "AD": 3.5})
    """Median background load (periventricular + deep, anywhere in white matter) at age
    72, mL; it grows 3 % per year of age."""
    sigma_log: float = 0.6
    signal_ml: dict[str, float] = field(default_factory=lambda: {"CN": 0.1, "MCI": 0.8, "AD": 2.0})
    """Median diagnosis-specific load added in the signal regions, mL."""
    signal_sigma_log: float = 0.3
    signal_regions: tuple[int, ...] = (1, 7, 11, 22, 29, 33)
    """Regions the diagnosis-specific load goes to, in turn (default: the regions the
    study found for AD vs CN)."""
    periventricular_share: float = 0.6
    max_ml: float = 60.0


@dataclass(frozen=True)
class AnatomyModel:
    """Pose, shape and atrophy variation between subjects."""

    rotation_deg: float = 8.0
    translation_mm: float = 8.0
    head_size_sd: float = 0.04
    deformation_mm: float = 1.0
    """RMS of the smooth nonlinear displacement."""
    deformation_spacing_mm: float = 20.0
    motion_rotation_deg: float = 4.0
    motion_translation_mm: float = 4.0
    ventricle_expansion: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"CN": (0.0, 0.06), "MCI": (0.04, 0.12), "AD": (0.08, 0.18)}
    )
    hippocampal_shrinkage: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"CN": (0.0, 0.04), "MCI": (0.03, 0.09), "AD": (0.07, 0.15)}
    )


@dataclass(frozen=True)
class SubjectSpec:
    subject: str
    diagnosis: str
    site: str
    age: float
    seed: int


@dataclass
class SimulatedSubject:
    """Images of one synthetic subject plus everything known about it."""

    t1: nib.Nifti1Image
    flair: nib.Nifti1Image
    lesion_mask: nib.Nifti1Image
    """True lesion mask on the FLAIR grid."""
    regions: nib.Nifti1Image
    """True 34-region map on the FLAIR grid."""
    ventricles: nib.Nifti1Image
    """True lateral ventricles (the template's, atrophy included) on the FLAIR grid."""
    truth: dict[str, Any]


# ----------------------------------------------------------------------- helpers


def _rigid(rng: np.random.Generator, max_deg: float, max_mm: float) -> FloatArray:
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler(
        "xyz", rng.uniform(-max_deg, max_deg, 3), degrees=True
    ).as_matrix()
    m[:3, 3] = rng.uniform(-max_mm, max_mm, 3)
    return m


@dataclass(frozen=True)
class CoarseField:
    """A smooth random field: values on a coarse grid, cubic-interpolated anywhere."""

    values: FloatArray  # (components, nx, ny, nz)
    origin: FloatArray
    spacing: float

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        lo: FloatArray,
        hi: FloatArray,
        spacing: float,
        components: int,
        rms: float,
    ) -> CoarseField:
        shape = tuple(int(np.ceil((h - lo_) / spacing)) + 3 for lo_, h in zip(lo, hi, strict=True))
        raw = rng.normal(size=(components, *shape))
        smooth = np.stack([ndi.gaussian_filter(c, 1.0, mode="wrap") for c in raw])
        smooth *= rms / max(float(np.sqrt((smooth**2).sum(0).mean())), 1e-12)
        return cls(smooth, np.asarray(lo, dtype=float) - spacing, spacing)

    def __call__(self, points: FloatArray) -> FloatArray:
        """Evaluate at points of shape (3, ...); returns (components, ...)."""
        idx = (points - self.origin.reshape(3, *[1] * (points.ndim - 1))) / self.spacing
        return np.stack([ndi.map_coordinates(c, idx, order=3, mode="nearest") for c in self.values])

    def on_grid(self, affine: FloatArray, shape: tuple[int, int, int], step: int = 4) -> FloatArray:
        """Evaluate on every voxel of a grid: exactly on every ``step``-th voxel, then
        linearly in between (the field varies over centimetres, voxels are mm)."""
        coarse_shape = tuple(int(np.ceil((s - 1) / step)) + 1 for s in shape)
        coarse_affine = affine.copy()
        coarse_affine[:3, :3] = affine[:3, :3] * step
        coarse = self(
            _world_points(coarse_affine, (coarse_shape[0], coarse_shape[1], coarse_shape[2]))
        )
        idx = np.indices(shape, dtype=np.float32) / step
        return np.stack([ndi.map_coordinates(c, idx, order=1, mode="nearest") for c in coarse])


@dataclass(frozen=True)
class _Sites:
    """Template-space facts the lesion planter needs (computed once per template)."""

    wm_centres: dict[int, npt.NDArray[np.intp]]  # region -> flat indices of deep WM
    periventricular: dict[int, npt.NDArray[np.intp]]  # region -> flat indices near ventricles
    ventricle_centres: FloatArray  # (2, 3) mm, left and right
    ventricle_sigma: FloatArray  # (2, 3) mm


@functools.lru_cache(maxsize=2)
def _lesion_sites(template: Template, labels_key: bytes) -> _Sites:
    labels = np.frombuffer(labels_key, dtype=np.uint8).reshape(template.shape)
    dist = ndi.distance_transform_edt(~template.ventricles)
    in_regions = labels > 0

    def by_region(mask: npt.NDArray[np.bool_]) -> dict[int, npt.NDArray[np.intp]]:
        flat = np.flatnonzero(mask & in_regions)
        owner = labels.ravel()[flat]
        order = np.argsort(owner, kind="stable")
        ids, starts = np.unique(owner[order], return_index=True)
        groups = np.split(flat[order], starts[1:])
        return {int(i): g for i, g in zip(ids, groups, strict=True)}

    deep = by_region((template.wm > 0.85) & (dist > 6))
    fallback = by_region(template.wm > 0.6)
    wm_centres = {
        rid: deep.get(rid, fallback.get(rid, np.empty(0, np.intp)))
        for rid in range(1, int(labels.max()) + 1)
    }
    periventricular = by_region((template.wm > 0.5) & (dist >= 1) & (dist <= 5))
    centres, sigmas = [], []
    for side in (-1, 1):
        pts = template.coordinates_of(template.ventricles)
        pts = pts[:, np.sign(pts[0]) == side]
        centres.append(pts.mean(axis=1))
        sigmas.append(pts.std(axis=1) * 1.5)
    return _Sites(wm_centres, periventricular, np.array(centres), np.array(sigmas))


def _blob(
    rng: np.random.Generator, radius: float, template: Template, centre: tuple[int, int, int]
) -> tuple[tuple[slice, slice, slice], npt.NDArray[np.float32]]:
    """A soft, irregular ellipsoid of mean radius ``radius`` (mm) around ``centre``."""
    radii = radius * rng.uniform(0.6, 1.4, 3)
    half = int(np.ceil(radii.max() * 1.6)) + 2
    sl = tuple(
        slice(max(c - half, 0), min(c + half + 1, s))
        for c, s in zip(centre, template.shape, strict=True)
    )
    grid = np.stack(
        np.meshgrid(
            *[np.arange(s.start, s.stop) - c for s, c in zip(sl, centre, strict=True)],
            indexing="ij",
        )
    ).astype(np.float64)
    rot = Rotation.random(random_state=rng).as_matrix()
    local = np.einsum("ij,jklm->iklm", rot.T, grid) / radii.reshape(3, 1, 1, 1)
    d = np.sqrt((local**2).sum(axis=0))
    bumps = ndi.gaussian_filter(rng.normal(size=d.shape), max(radius / 2.5, 0.8))
    bumps /= max(float(np.abs(bumps).max()), 1e-6)
    d = d * (1 + 0.25 * bumps)
    value = 1.0 / (1.0 + np.exp(-(1.0 - d) * radius / 0.6))
    wm_weight = np.clip((template.wm[sl] - 0.3) / 0.4, 0, 1)
    return (sl[0], sl[1], sl[2]), (value * wm_weight).astype(np.float32)


def plant_lesions(
    template: Template,
    labels: npt.NDArray[np.uint8],
    spec: SubjectSpec,
    model: LesionModel,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float32], dict[str, float]]:
    """Paint lesions (partial-volume fractions, 1 mm template grid) for one subject."""
    sites = _lesion_sites(template, labels.tobytes())
    age_effect = 0.03 * (spec.age - 72.0)

    background_ml = float(
        np.clip(
            np.exp(
                np.log(model.median_ml[spec.diagnosis])
                + age_effect
                + rng.normal(0, model.sigma_log)
            ),
            0.2,
            model.max_ml,
        )
    )
    signal_ml = float(
        np.exp(np.log(model.signal_ml[spec.diagnosis]) + rng.normal(0, model.signal_sigma_log))
    )
    lesions = np.zeros(template.shape, dtype=np.float32)
    all_regions = sorted(r for r in sites.wm_centres if sites.wm_centres[r].size)
    pv_regions = sorted(r for r in sites.periventricular if sites.periventricular[r].size)
    signal = [r for r in model.signal_regions if r in sites.wm_centres]

    def place(goal_mm3: float, kind: str) -> float:
        placed = 0.0
        offset = int(rng.integers(len(signal))) if signal else 0
        for attempt in range(400):
            if placed >= goal_mm3:
                break
            if kind == "signal":
                region = signal[(offset + attempt) % len(signal)]
                pool = sites.wm_centres[region]
                radius = rng.uniform(2.0, 5.5)
            elif kind == "periventricular":
                region = int(rng.choice(pv_regions))
                pool = sites.periventricular[region]
                radius = rng.uniform(3.0, 7.0)
            else:
                region = int(rng.choice(all_regions))
                pool = sites.wm_centres[region]
                radius = rng.uniform(1.5, 4.0) if rng.random() < 0.7 else rng.uniform(4.0, 7.0)
            centre = np.unravel_index(int(rng.choice(pool)), template.shape)
            sl, blob = _blob(
                rng, radius, template, (int(centre[0]), int(centre[1]), int(centre[2]))
            )
            before = float(lesions[sl].sum())
            np.maximum(lesions[sl], blob, out=lesions[sl])
            placed += float(lesions[sl].sum()) - before
        return placed

    signal_mm3 = place(signal_ml * 1000.0, "signal") if signal else 0.0
    pv_mm3 = place(background_ml * 1000.0 * model.periventricular_share, "periventricular")
    deep_mm3 = place(background_ml * 1000.0 - pv_mm3, "deep")
    return lesions, {
        "target_ml": background_ml + signal_ml,
        "planted_signal_ml": signal_mm3 / 1000,
        "planted_periventricular_ml": pv_mm3 / 1000,
        "planted_deep_ml": deep_mm3 / 1000,
    }


# ------------------------------------------------------------------ transforms/grids


@dataclass(frozen=True)
class BackwardMap:
    """Maps subject scanner-world points (mm) to template-world points (mm)."""

    pose: FloatArray  # template-aligned head -> scanner world (4x4)
    displacement: CoarseField
    ventricle_centres: FloatArray
    ventricle_sigma: FloatArray
    ventricle_expansion: float
    hippocampus_centres: FloatArray
    hippocampus_sigma: FloatArray
    hippocampal_shrinkage: float

    def on_grid(
        self, affine: FloatArray, shape: tuple[int, int, int], session: FloatArray | None = None
    ) -> FloatArray:
        """Template-world points (3, *shape) of every voxel of a grid in a session's world.

        ``session`` maps T1w-session world points to this session's (head motion).
        """
        to_head = np.linalg.inv(self.pose if session is None else session @ self.pose)
        head_affine = to_head @ affine
        p = _world_points(head_affine, shape).reshape(3, -1)
        p = p + self.displacement.on_grid(head_affine, shape).reshape(3, -1)
        # Atrophy: pulling sample points towards the ventricle centres widens the
        # ventricles; pushing them away from the hippocampal centres shrinks the
        # hippocampi. Both maps stay invertible for amounts below 1.
        for c, s in zip(self.ventricle_centres, self.ventricle_sigma, strict=True):
            d = p - c[:, None]
            w = np.exp(-0.5 * ((d / s[:, None]) ** 2).sum(0))
            p = p - self.ventricle_expansion * d * w
        for c, s in zip(self.hippocampus_centres, self.hippocampus_sigma, strict=True):
            d = p - c[:, None]
            w = np.exp(-0.5 * ((d / s[:, None]) ** 2).sum(0))
            p = p + self.hippocampal_shrinkage * d * w
        return p.reshape(3, *shape)


def _grid_covering(
    corners_world: FloatArray, voxel_mm: tuple[float, float, float], margin_mm: float
) -> tuple[FloatArray, tuple[int, int, int]]:
    lo = corners_world.min(axis=0) - margin_mm
    hi = corners_world.max(axis=0) + margin_mm
    vox = np.asarray(voxel_mm, dtype=float)
    shape = np.ceil((hi - lo) / vox).astype(int)
    affine = np.eye(4)
    affine[:3, :3] = np.diag(vox)
    affine[:3, 3] = lo + vox / 2
    return affine, (int(shape[0]), int(shape[1]), int(shape[2]))


def _world_points(affine: FloatArray, shape: tuple[int, int, int]) -> FloatArray:
    ijk = np.indices(shape, dtype=np.float64)
    return np.einsum("ij,jklm->iklm", affine[:3, :3], ijk) + affine[:3, 3].reshape(3, 1, 1, 1)


def _antialias(
    volume: npt.NDArray[np.floating], voxel_mm: tuple[float, float, float]
) -> npt.NDArray[np.float32]:
    # A box of the target voxel's width, less the template's own 1 mm box.
    sigma = [np.sqrt(max(v * v - 1.0, 0.0) / 12.0) for v in voxel_mm]
    return ndi.gaussian_filter(volume.astype(np.float32), sigma, mode="constant")


def _sample(
    volume: npt.NDArray[np.generic], template: Template, world: FloatArray, order: int
) -> npt.NDArray[np.float32]:
    inv = np.linalg.inv(template.affine)
    idx = np.einsum("ij,jklm->iklm", inv[:3, :3], world) + inv[:3, 3].reshape(3, 1, 1, 1)
    return ndi.map_coordinates(volume, idx, order=order, mode="constant", cval=0.0).astype(
        np.float32
    )


def _rician(
    signal: npt.NDArray[np.float32], sigma: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    real = signal + rng.normal(0, sigma, signal.shape)
    imag = rng.normal(0, sigma, signal.shape)
    return np.sqrt(real**2 + imag**2).astype(np.float32)


# ------------------------------------------------------------------------- subject


def simulate_subject(
    template: Template,
    labels: npt.NDArray[np.uint8],
    spec: SubjectSpec,
    profile: ScannerProfile,
    lesion_model: LesionModel | None = None,
    anatomy_model: AnatomyModel | None = None,
) -> SimulatedSubject:
    """Make the T1, FLAIR, true lesion mask and true region map of one subject."""
    lesion_model = lesion_model or LesionModel()
    anatomy_model = anatomy_model or AnatomyModel()
    rng = np.random.default_rng(spec.seed)
    am = anatomy_model

    lesions, lesion_log = plant_lesions(template, labels, spec, lesion_model, rng)

    pose = _rigid(rng, am.rotation_deg, am.translation_mm)
    scale = float(np.clip(rng.normal(1.0, am.head_size_sd), 0.85, 1.15))
    pose[:3, :3] = pose[:3, :3] * scale
    motion = _rigid(rng, am.motion_rotation_deg, am.motion_translation_mm)
    brain_xyz = template.coordinates_of(template.brain)
    lo, hi = brain_xyz.min(axis=1), brain_xyz.max(axis=1)
    displacement = CoarseField.random(
        rng, lo - 20, hi + 20, am.deformation_spacing_mm, 3, am.deformation_mm
    )
    sites = _lesion_sites(template, labels.tobytes())
    hippo_xyz = template.coordinates_of(template.hippocampus)
    hippo_centres = np.array(
        [hippo_xyz[:, hippo_xyz[0] < 0].mean(1), hippo_xyz[:, hippo_xyz[0] > 0].mean(1)]
    )
    backward = BackwardMap(
        pose=pose,
        displacement=displacement,
        ventricle_centres=sites.ventricle_centres,
        ventricle_sigma=sites.ventricle_sigma,
        ventricle_expansion=float(rng.uniform(*am.ventricle_expansion[spec.diagnosis])),
        hippocampus_centres=hippo_centres,
        hippocampus_sigma=np.array([[6.0, 12.0, 6.0]] * 2),
        hippocampal_shrinkage=float(rng.uniform(*am.hippocampal_shrinkage[spec.diagnosis])),
    )

    corners = np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )
    head_corners = nib.affines.apply_affine(pose, corners)
    maps = {
        "gm": template.gm,
        "wm": np.clip(template.wm - lesions, 0, 1),
        "csf": template.csf,
        "lesion": lesions,
        "brain": template.brain.astype(np.float32),
        "hippocampus": template.hippocampus.astype(np.float32),
    }

    def scan(
        voxel: tuple[float, float, float], session: FloatArray | None
    ) -> tuple[FloatArray, tuple[int, int, int], dict[str, npt.NDArray[np.float32]], FloatArray]:
        corners_world = (
            head_corners if session is None else nib.affines.apply_affine(session, head_corners)
        )
        affine, shape = _grid_covering(corners_world, voxel, margin_mm=12.0)
        src = backward.on_grid(affine, shape, session)
        sampled = {
            k: np.clip(_sample(_antialias(v, voxel), template, src, 1), 0, 1)
            for k, v in maps.items()
        }
        return affine, shape, sampled, src

    def contrast(
        fr: dict[str, npt.NDArray[np.float32]],
        c: tuple[float, float, float, float],
        affine: FloatArray,
        shape: tuple[int, int, int],
    ) -> npt.NDArray[np.float32]:
        signal = c[0] * fr["csf"] + c[1] * fr["gm"] + c[2] * fr["wm"] + c[3] * fr["lesion"]
        texture = ndi.gaussian_filter(rng.normal(size=shape), 1.0)
        texture *= 0.02 / max(float(texture.std()), 1e-9)
        ends = nib.affines.apply_affine(affine, np.array([[0, 0, 0], [n - 1 for n in shape]]))
        bias_field = CoarseField.random(rng, ends.min(0), ends.max(0), 60.0, 1, profile.bias)
        bias = np.exp(bias_field.on_grid(affine, shape, step=6)[0])
        noisy = _rician(
            (signal * (1 + texture) * bias * profile.gain).astype(np.float32),
            profile.noise * c[2] * profile.gain,
            rng,
        )
        return np.clip(np.rint(noisy), 0, 32767).astype(np.float32)

    t1_aff, t1_shape, t1_fr, _ = scan(profile.t1_voxel_mm, None)
    t1_data = contrast(t1_fr, profile.t1_contrast, t1_aff, t1_shape)
    fl_aff, fl_shape, fl_fr, fl_src = scan(profile.flair_voxel_mm, motion)
    fl_data = contrast(fl_fr, profile.flair_contrast, fl_aff, fl_shape)

    lesion_mask = (fl_fr["lesion"] >= 0.5).astype(np.uint8)
    region_map = _sample(labels, template, fl_src, 0).astype(np.uint8)
    ventricles = _sample(template.ventricles.astype(np.uint8), template, fl_src, 0) > 0

    def image(
        data: npt.NDArray[np.generic], affine: FloatArray, dtype: npt.DTypeLike, orientation: str
    ) -> nib.Nifti1Image:
        img = nib.Nifti1Image(np.asarray(data).astype(dtype), affine)
        img.set_qform(affine, code=1)
        img.set_sform(affine, code=1)
        img.header.set_xyzt_units("mm", "sec")
        return reorient(img, orientation)

    t1_vox = float(np.prod(profile.t1_voxel_mm))
    fl_vox = float(np.prod(profile.flair_voxel_mm))
    truth: dict[str, Any] = {
        "subject": spec.subject,
        "diagnosis": spec.diagnosis,
        "site": spec.site,
        "age": spec.age,
        "seed": spec.seed,
        "wmh_ml": float(lesion_mask.sum() * fl_vox / 1000.0),
        "wmh_partial_volume_ml": float(fl_fr["lesion"].sum() * fl_vox / 1000.0),
        "hippocampus_mm3": float(t1_fr["hippocampus"].sum() * t1_vox),
        "gm_mm3": float(t1_fr["gm"].sum() * t1_vox),
        "wm_mm3": float((t1_fr["wm"] + t1_fr["lesion"]).sum() * t1_vox),
        "csf_mm3": float(t1_fr["csf"].sum() * t1_vox),
        "icv_mm3": float(t1_fr["brain"].sum() * t1_vox),
        "head_scale": scale,
        "ventricle_expansion": backward.ventricle_expansion,
        "hippocampal_shrinkage": backward.hippocampal_shrinkage,
        "t1_to_flair_world": motion.tolist(),
        "template_to_t1_world": pose.tolist(),
        **lesion_log,
    }
    return SimulatedSubject(
        t1=image(t1_data, t1_aff, np.int16, profile.t1_orientation),
        flair=image(fl_data, fl_aff, np.int16, profile.flair_orientation),
        lesion_mask=image(lesion_mask, fl_aff, np.uint8, profile.flair_orientation),
        regions=image(region_map, fl_aff, np.uint8, profile.flair_orientation),
        ventricles=image(ventricles, fl_aff, np.uint8, profile.flair_orientation),
        truth=truth,
    )


def reference_volume_ml(
    true_ml: float, rng: np.random.Generator, cv: float = 0.12, sd_ml: float = 0.3
) -> float:
    """A reference WMH volume as another, noisier method would report it.

    Multiplicative (coefficient of variation ``cv``) and additive (``sd_ml``) error
    around the truth, never negative; this is what Bland–Altman compares against.
    """
    return float(max(true_ml * np.exp(rng.normal(0.0, cv)) + rng.normal(0.0, sd_ml), 0.0))
