"""Lesion geographies beyond the 34 regions: periventricular / deep and bullseye zones.

Every tool a researcher compares against reports its own geography. This module gives
two of the common ones on a subject's analysis grid, as label maps that the regional
loads (:mod:`wmhmap.loads`) count lesions in exactly as they count the 34 regions:

``pvdeep``
    Distance of each white-matter voxel from the lateral ventricles, cut into bands
    (default one cut at 10 mm: periventricular / deep, as UBO Detector and Griffanti
    et al. 2018; ``(3, 13)`` gives juxtaventricular / periventricular / deep), an
    optional juxtacortical zone (white matter within ``juxtacortical_mm`` of the
    cortex that no ventricle band claims, as LST-AI) and the infratentorial white
    matter as its own zone. Optionally the "continuity" rule: a lesion that touches a
    ventricle band belongs to that band as a whole (:func:`apply_continuity`).
``bullseye``
    Sudre et al. 2018: four lobes per hemisphere (frontal, parietal, temporal,
    occipital) plus the basal ganglia and thalamus, times four shells of equal
    *normalised depth* ``d_v / (d_v + d_c)`` between the ventricles (``d_v``: distance
    to them) and the cortex (``d_c``), shell 1 next to the ventricles: 36 zones on the
    subject's supratentorial white matter (32) and its basal ganglia and thalamus (4).

Distances are Euclidean in mm from each voxel centre to the nearest voxel centre of
the structure (:func:`distance_mm`; anisotropic voxels respected).

Where the pieces come from (:func:`zone_maps`): the lateral ventricles from the
subject's T1w inside the atlas's ventricle prior (:func:`segment_ventricles`; the
prior alone when there is no T1w), the lobes from the atlas parcels (each white-matter
voxel takes the lobe of the nearest lobar parcel, :func:`lobe_map`), the deep grey
matter and the infratentorial white matter from the atlas's zone prior
(:data:`PRIOR_LABELS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage as ndi

from wmhmap.errors import InputError
from wmhmap.regions import Region, RegionTable
from wmhmap.zoneprior import DEEP_GREY, INFRATENTORIAL, VENTRICLES, largest_components

SCHEMES = ("jhu34", "pvdeep", "bullseye")
"""Every geography a loads table can hold (``scheme`` column); ``jhu34`` is the study's."""
ZONE_SCHEMES = SCHEMES[1:]


LOBES = ("frontal", "parietal", "temporal", "occipital")
BGIT = "basal ganglia and thalamus"
SHELLS = 4

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
LabelArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class PvDeepSettings:
    """How the ``pvdeep`` scheme cuts the white matter (config ``zones.pvdeep``)."""

    bands_mm: tuple[float, ...] = (10.0,)
    """Upper edges of the ventricle bands (mm): ``(10,)`` periventricular then deep;
    ``(3, 13)`` juxtaventricular, periventricular, then deep."""
    juxtacortical_mm: float = 0.0
    """White matter this close to the cortex (and in no ventricle band) is
    juxtacortical; 0 leaves the zone out."""
    continuity: bool = False
    """A lesion touching a ventricle band belongs to it as a whole."""

    def __post_init__(self) -> None:
        bands = list(self.bands_mm)
        if not bands or any(b <= 0 for b in bands) or bands != sorted(set(bands)):
            raise InputError(
                f"zones.pvdeep.bands_mm is {bands}",
                fix="give one or more increasing positive distances in mm, e.g. [10] or [3, 13]",
            )
        if len(bands) > 2:
            raise InputError(
                f"zones.pvdeep.bands_mm has {len(bands)} cuts",
                fix="give one cut (periventricular / deep) or two (juxta-, periventricular)",
            )
        if self.juxtacortical_mm < 0:
            raise InputError(
                f"zones.pvdeep.juxtacortical_mm is {self.juxtacortical_mm}",
                fix="give a distance in mm, or 0 to leave the juxtacortical zone out",
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PvDeepSettings:
        return cls(
            bands_mm=tuple(float(b) for b in config["bands_mm"]),
            juxtacortical_mm=float(config["juxtacortical_mm"]),
            continuity=bool(config["continuity"]),
        )

    @property
    def band_names(self) -> tuple[str, ...]:
        return (
            ("periventricular",)
            if len(self.bands_mm) == 1
            else ("juxtaventricular", "periventricular")
        )

    def table(self) -> RegionTable:
        """The zones: ventricle bands, deep, [juxtacortical], infratentorial."""
        names = [*self.band_names, "deep"]
        if self.juxtacortical_mm > 0:
            names.append("juxtacortical")
        names.append("infratentorial")
        return RegionTable(tuple(Region(i, "both", n, ()) for i, n in enumerate(names, 1)))

    def zone_id(self, name: str) -> int:
        return next(r.region_id for r in self.table() if r.name == name)


@dataclass(frozen=True)
class BullseyeSettings:
    """The lobes of the ``bullseye`` scheme (config ``zones.bullseye``)."""

    lobes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Lobe name -> the region-table ids whose parcels seed it (both hemispheres);
    regions listed under no lobe take the lobe of the nearest seed."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.lobes) - set(LOBES))
        missing = sorted(set(LOBES) - set(self.lobes))
        if unknown or missing:
            raise InputError(
                f"zones.bullseye.lobes names {sorted(self.lobes)}",
                fix=f"give region ids for exactly the lobes {', '.join(LOBES)}",
            )
        seen: dict[int, str] = {}
        for lobe, ids in self.lobes.items():
            for i in ids:
                if i in seen:
                    raise InputError(
                        f"region {i} seeds both the {seen[i]} and the {lobe} lobe",
                        fix="list every region under one lobe only (zones.bullseye.lobes)",
                    )
                seen[i] = lobe

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BullseyeSettings:
        return cls(lobes={k: tuple(int(i) for i in v) for k, v in config["lobes"].items()})


def bullseye_table() -> RegionTable:
    """36 zones: (left lobes, right lobes, basal ganglia + thalamus) x 4 shells.

    >>> t = bullseye_table()
    >>> len(t), t.by_id(1).name, t.by_id(20).name, t.by_id(36).name
    (36, 'left frontal, shell 1', 'right frontal, shell 4', 'basal ganglia and thalamus, shell 4')
    """
    parts = [(h, f"{h} {lobe}") for h in ("left", "right") for lobe in LOBES]
    parts.append(("both", BGIT))
    regions = [
        Region(k * SHELLS + shell, hemisphere, f"{name}, shell {shell}", ())
        for k, (hemisphere, name) in enumerate(parts)
        for shell in range(1, SHELLS + 1)
    ]
    return RegionTable(tuple(regions))


def scheme_table(scheme: str, pvdeep: PvDeepSettings | None = None) -> RegionTable:
    """The zone table of a zone scheme."""
    if scheme == "pvdeep":
        return (pvdeep or PvDeepSettings()).table()
    if scheme == "bullseye":
        return bullseye_table()
    raise InputError(f"zone scheme {scheme!r} is unknown", fix=f"use one of {ZONE_SCHEMES}")


# ------------------------------------------------------------------ geometry


def distance_mm(mask: npt.ArrayLike, zooms: Sequence[float]) -> FloatArray:
    """Distance (mm) from every voxel centre to the nearest voxel centre of ``mask``
    (0 inside it); infinite everywhere when the mask is empty.

    >>> distance_mm(np.array([[[1, 0, 0, 0]]]), (1.0, 1.0, 2.5)).ravel().tolist()
    [0.0, 2.5, 5.0, 7.5]
    """
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return np.full(m.shape, np.inf)
    return np.asarray(ndi.distance_transform_edt(~m, sampling=zooms), dtype=np.float64)


def nearest_labels(
    labels: npt.NDArray[np.integer[Any]], zooms: Sequence[float]
) -> npt.NDArray[Any]:
    """Every voxel takes the label of the nearest labelled (non-zero) voxel."""
    if not labels.any():
        return labels.copy()
    _, index = ndi.distance_transform_edt(labels == 0, sampling=zooms, return_indices=True)
    return labels[tuple(index)]


VENTRICLE_MARGIN_MM = 6.0
"""How far beyond the atlas's ventricle prior the T1w may show ventricle (atrophy)."""
CSF_PERCENTILE = 25.0
"""The ventricles' CSF level is this percentile of the T1w in the atlas's ventricle
prior. The median of the prior's core (eroded by 2 mm) once served: with 3 mm slices
that core is 50-70 voxels, and on one real subject its median went from 78 to 148
(CSF to grey matter) between two registrations a fraction of a millimetre apart, the
ventricles from 32 to 43 mL."""
VENTRICLE_LEVEL = 1 / 3
"""Ventricle voxels are darker than CSF + this share of (white matter - CSF) on T1w:
below grey matter (about 0.6 of the way), so neither the caudate nor a lesion that is
grey on T1w joins the ventricles."""


def segment_ventricles(
    prior: npt.ArrayLike,
    brain: npt.ArrayLike,
    zooms: Sequence[float],
    *,
    t1w: npt.ArrayLike | None = None,
    white_matter: npt.ArrayLike | None = None,
    infratentorial: npt.ArrayLike | None = None,
    subject: str | None = None,
) -> BoolArray:
    """The lateral ventricles: the T1w's CSF-dark voxels near the atlas's prior.

    Without a T1w (``t1w=None``) the prior, inside the brain, is the answer. With one,
    the CSF level is the median of the darker half of the T1w in the prior (its 25th
    percentile: the prior's edge holds partial volumes and, carried onto small
    ventricles, tissue) and the white-matter level the median in ``white_matter``;
    voxels within :data:`VENTRICLE_MARGIN_MM` of the prior that are darker than
    :data:`VENTRICLE_LEVEL` of the way from CSF to white matter, in components that
    reach the prior's core (eroded by 2 mm), are ventricle. A dark voxel nearer the
    ``infratentorial`` structures (the atlas's, carried over) than the prior is the
    cisterns around the brainstem and cerebellum, not ventricle, and no path runs
    through it: in atrophied brains those cisterns join the two atria otherwise.
    """
    prior_b = np.asarray(prior, dtype=bool) & np.asarray(brain, dtype=bool)
    if not prior_b.any():
        raise InputError(
            "the atlas's ventricle prior does not reach the subject's brain",
            subject=subject,
            fix="check the atlas registration (registration_qc.tsv and its overlay)",
        )
    if t1w is None or white_matter is None:
        return prior_b
    image = np.asarray(t1w, dtype=np.float64)
    core = prior_b & (distance_mm(~prior_b, zooms) > 2.0)
    if core.sum() < 10:
        core = prior_b
    wm = np.asarray(white_matter, dtype=bool) & ~prior_b
    csf_level = float(np.percentile(image[prior_b], CSF_PERCENTILE))
    wm_level = float(np.median(image[wm]))
    if not wm_level > csf_level:  # not a T1w contrast: the prior is all we can trust
        return prior_b
    d_prior = distance_mm(prior_b, zooms)
    near = (d_prior <= VENTRICLE_MARGIN_MM) & np.asarray(brain, bool)
    if infratentorial is not None:
        near &= d_prior < distance_mm(infratentorial, zooms)
    dark = near & (image < csf_level + VENTRICLE_LEVEL * (wm_level - csf_level))
    components, n = ndi.label(dark, structure=np.ones((3, 3, 3)))
    if n == 0:
        return prior_b
    reached = np.unique(components[core & dark])
    found = np.isin(components, reached[reached > 0])
    return found if found.any() else prior_b


VENTRICLE_RIM_MM = 3.0
"""Non-white-matter voxels this close to the ventricles (or within 1.5 voxels) are their
partial-volume rim, not cortex."""


def cortex_mask(
    brain: npt.ArrayLike,
    white_matter: npt.ArrayLike,
    ventricles: npt.ArrayLike,
    prior: npt.ArrayLike,
    zooms: Sequence[float],
    *,
    d_v: FloatArray | None = None,
) -> BoolArray:
    """The cortex side of the white matter: brain voxels that are not white matter,
    ventricles or their rim (:data:`VENTRICLE_RIM_MM`), deep grey matter or
    infratentorial, in components of at least 5 % of the largest (holes inside the
    white matter are not cortex). ``d_v``: the distance to the ventricles, if known."""
    p = np.asarray(prior)
    d_v = distance_mm(ventricles, zooms) if d_v is None else d_v
    rim = d_v <= max(VENTRICLE_RIM_MM, 1.5 * max(zooms))
    rest = (
        np.asarray(brain, bool)
        & ~np.asarray(white_matter, bool)
        & ~rim
        & ~np.isin(p, (VENTRICLES, DEEP_GREY, INFRATENTORIAL))
    )
    return largest_components(rest, 0.05)


def pvdeep_map(
    white_matter: npt.ArrayLike,
    ventricles: npt.ArrayLike,
    cortex: npt.ArrayLike,
    infratentorial: npt.ArrayLike,
    zooms: Sequence[float],
    settings: PvDeepSettings | None = None,
    *,
    d_v: FloatArray | None = None,
    d_c: FloatArray | None = None,
) -> LabelArray:
    """Zone of every white-matter voxel (ids of :meth:`PvDeepSettings.table`; 0 elsewhere).

    Ventricle bands by distance to the ventricles (``d <= cut``), then juxtacortical by
    distance to the cortex, then deep; the infratentorial white matter is its own zone.
    ``d_v`` and ``d_c`` are those distances when already computed.
    """
    s = settings or PvDeepSettings()
    wm = np.asarray(white_matter, dtype=bool)
    infra = np.asarray(infratentorial, dtype=bool) & wm
    d_v = distance_mm(ventricles, zooms) if d_v is None else d_v
    zones = np.full(wm.shape, s.zone_id("deep"), dtype=np.uint8)
    if s.juxtacortical_mm > 0:
        d_c = distance_mm(cortex, zooms) if d_c is None else d_c
        zones[d_c <= s.juxtacortical_mm] = s.zone_id("juxtacortical")
    for band, cut in reversed(list(enumerate(s.bands_mm, 1))):
        zones[d_v <= cut] = band
    zones[infra] = s.zone_id("infratentorial")
    zones[~wm] = 0
    return zones


def apply_continuity(
    zones: npt.NDArray[np.integer[Any]], lesions: npt.ArrayLike, settings: PvDeepSettings
) -> npt.NDArray[Any]:
    """The continuity rule: every lesion (26-connected) with a voxel in a ventricle band
    takes the innermost band it touches, as a whole. Other voxels keep their zone.

    >>> s = PvDeepSettings(continuity=True)
    >>> z = np.array([[[1, 2, 2, 2, 2]]], np.uint8)
    >>> apply_continuity(z, np.array([[[0, 1, 1, 0, 1]]]), s).ravel().tolist()
    [1, 2, 2, 2, 2]
    >>> apply_continuity(z, np.array([[[1, 1, 1, 0, 1]]]), s).ravel().tolist()
    [1, 1, 1, 2, 2]
    """
    out = np.array(zones, copy=True)
    components, n = ndi.label(np.asarray(lesions, bool), structure=np.ones((3, 3, 3)))
    if n == 0:
        return out
    bands = len(settings.bands_mm)
    in_band = np.where((out >= 1) & (out <= bands), out, bands + 1).astype(np.int64)
    innermost = ndi.minimum(in_band, components, index=np.arange(1, n + 1))
    lookup = np.concatenate([[0], np.asarray(innermost, dtype=np.int64)])
    taken = components > 0
    claimed = lookup[components] <= bands
    out[taken & claimed] = lookup[components][taken & claimed]
    return out


def lobe_map(
    parcels: npt.NDArray[np.integer[Any]],
    domain: npt.ArrayLike,
    table: RegionTable,
    settings: BullseyeSettings,
    zooms: Sequence[float],
) -> LabelArray:
    """Lobe index of every ``domain`` voxel: 1-4 left, 5-8 right (order of :data:`LOBES`).

    The seeds are the parcels of the regions each lobe lists, in their hemisphere
    (region table); every domain voxel takes the lobe of the nearest seed voxel.
    """
    lut = np.zeros(max(int(parcels.max()), table.max_id) + 1, dtype=np.uint8)
    for k, lobe in enumerate(LOBES):
        for region_id in settings.lobes[lobe]:
            try:
                hemisphere = table.by_id(region_id).hemisphere
            except KeyError:
                raise InputError(
                    f"zones.bullseye.lobes lists region {region_id}, which the region "
                    "table does not have",
                    fix="list region ids of atlas.region_table",
                ) from None
            lut[region_id] = k + 1 + (len(LOBES) if hemisphere == "right" else 0)
    seeds = lut[np.asarray(parcels, dtype=np.intp)]
    if not seeds.any():
        raise InputError(
            "no lobe seed region is on the subject's grid",
            fix="check the atlas registration and zones.bullseye.lobes",
        )
    lobes = nearest_labels(seeds, zooms)
    return np.where(np.asarray(domain, bool), lobes, 0).astype(np.uint8)


def normalised_depth(
    ventricles: npt.ArrayLike,
    cortex: npt.ArrayLike,
    zooms: Sequence[float],
    *,
    d_v: FloatArray | None = None,
    d_c: FloatArray | None = None,
) -> FloatArray:
    """``d_v / (d_v + d_c)``: 0 at the ventricles, 1 at the cortex (``d_v``, ``d_c``: the
    two distances when already computed)."""
    d_v = distance_mm(ventricles, zooms) if d_v is None else d_v
    d_c = distance_mm(cortex, zooms) if d_c is None else d_c
    total = d_v + d_c
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, d_v / total, 0.0)


def bullseye_map(
    lobes: npt.ArrayLike,
    deep_grey: npt.ArrayLike,
    depth: FloatArray,
    domain: npt.ArrayLike,
) -> LabelArray:
    """Bullseye zone (1-36, :func:`bullseye_table`) of every ``domain`` voxel.

    Shell ``k`` holds normalised depths in ``[(k-1)/4, k/4)`` (the last also 1);
    domain voxels in ``deep_grey`` form the basal ganglia + thalamus part.
    """
    shell = np.clip(np.floor(depth * SHELLS).astype(np.int64), 0, SHELLS - 1) + 1
    part = np.asarray(lobes, dtype=np.int64)
    part = np.where(np.asarray(deep_grey, bool), 2 * len(LOBES) + 1, part)
    inside = np.asarray(domain, bool) & (part > 0)
    return np.where(inside, (part - 1) * SHELLS + shell, 0).astype(np.uint8)


@dataclass(frozen=True)
class ZoneMaps:
    """One subject's zone maps on its analysis grid."""

    pvdeep: LabelArray
    bullseye: LabelArray
    """Supratentorial white matter in 32 zones, plus the basal ganglia and thalamus
    (deep grey matter of the prior that is not white matter) in the last four."""
    ventricles: BoolArray
    white_matter: BoolArray
    """The zones' white matter (every ``pvdeep`` voxel)."""


def zone_maps(
    white_matter: npt.ArrayLike,
    brain: npt.ArrayLike,
    prior: npt.NDArray[np.integer[Any]],
    parcels: npt.NDArray[np.integer[Any]],
    table: RegionTable,
    zooms: Sequence[float],
    *,
    pvdeep: PvDeepSettings | None = None,
    bullseye: BullseyeSettings,
    t1w: npt.ArrayLike | None = None,
    subject: str | None = None,
) -> ZoneMaps:
    """Both zone schemes for one subject (see the module docstring).

    The work is done inside the brain's bounding box (distances to structures outside
    the brain never matter), so a head scan with neck costs no more than its brain.
    """
    wm_full = np.asarray(white_matter, bool)
    if not wm_full.any():
        raise InputError(
            "the white-matter map is empty", subject=subject, fix="check the atlas propagation"
        )
    box = brain_box(brain)
    brain_b = np.asarray(brain, bool)[box]
    prior_b, parcels_b = np.asarray(prior)[box], np.asarray(parcels)[box]
    ventricles = segment_ventricles(
        prior_b == VENTRICLES,
        brain_b,
        zooms,
        t1w=None if t1w is None else np.asarray(t1w)[box],
        white_matter=wm_full[box],
        infratentorial=prior_b == INFRATENTORIAL,
        subject=subject,
    )
    wm = wm_full[box] & ~ventricles
    d_v = distance_mm(ventricles, zooms)
    cortex = cortex_mask(brain_b, wm, ventricles, prior_b, zooms, d_v=d_v)
    d_c = distance_mm(cortex, zooms)
    infra = prior_b == INFRATENTORIAL
    supra = wm & ~infra
    # the bullseye's domain: supratentorial white matter and the basal ganglia / thalamus
    deep_grey = (prior_b == DEEP_GREY) & brain_b & ~ventricles & ~wm
    domain = supra | deep_grey
    lobes = lobe_map(parcels_b, domain, table, bullseye, zooms)
    depth = normalised_depth(ventricles, cortex, zooms, d_v=d_v, d_c=d_c)

    def full(part: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out = np.zeros(wm_full.shape, dtype=part.dtype)
        out[box] = part
        return out

    return ZoneMaps(
        pvdeep=full(pvdeep_map(wm, ventricles, cortex, infra, zooms, pvdeep, d_v=d_v, d_c=d_c)),
        bullseye=full(bullseye_map(lobes, deep_grey, depth, domain)),
        ventricles=full(ventricles),
        white_matter=full(wm),
    )


def brain_box(brain: npt.ArrayLike, pad: int = 2) -> tuple[slice, ...]:
    """Slices of the brain's bounding box grown by ``pad`` voxels (the whole image when
    the mask is empty).

    >>> brain_box(np.pad(np.ones((2, 2, 2)), 3), pad=1)
    (slice(2, 6, None), slice(2, 6, None), slice(2, 6, None))
    """
    b = np.asarray(brain, bool)
    if not b.any():
        return tuple(slice(0, n) for n in b.shape)
    found = np.argwhere(b)
    lo = np.maximum(found.min(axis=0) - pad, 0)
    hi = np.minimum(found.max(axis=0) + pad + 1, b.shape)
    return tuple(slice(int(a), int(z)) for a, z in zip(lo, hi, strict=True))
