"""Regional lesion loads: lesion volume per white-matter region, outside them, and in total.

The regional load of a region is the volume (mm^3) of the lesion voxels that the
region map puts in that region. Lesion voxels that fall on label 0 (background) or on
the "other" white matter (labels 35/36, :data:`~wmhmap.regions.OTHER`) form their own
"outside regions" bucket, so the
regional loads plus that bucket make up the global load.

Everything for one subject is computed in a single pass over the volume: one
``np.bincount`` over the region map (region volumes, and the labels present), then
work on the lesion voxels only (lesion volume per region, lesion components and
the region that holds each). No loop over regions touches the volume.

Tables
------
Per-subject *long* table (:data:`LONG_COLUMNS`), one row per region in table
order, then one row ``region_id = 0``, ``region_name = "outside regions"``,
``hemisphere = "none"``; the ``scheme`` column names the geography
(:data:`wmhmap.zones.SCHEMES`: ``jhu34``, the study's 34 regions, then the zone
schemes ``pvdeep`` and ``bullseye`` when they are computed, each with its own rows and
its own outside row):

``lesion_mm3``
    lesion volume in the region (mm^3).
``region_mm3``
    volume of the region in the region map (mm^3); NaN in the outside row, whose
    extent (the whole field of view minus the regions) means nothing anatomically.
``lesion_fraction``
    ``lesion_mm3 / region_mm3`` (a fraction in [0, 1]); NaN where the region is
    absent from the map, and in the outside row.
``lesion_per_icv``
    ``lesion_mm3 / icv_mm3``, a *fraction* of the intracranial volume (multiply by
    100 for percent, 1e6 for ppm); NaN when no ICV is given.
``lesion_count``
    lesions (26-connected components of the lesion mask) assigned to the region:
    each lesion goes to the region holding most of its voxels, ties to the lowest
    id; the outside bucket takes part as id 0, so a lesion mostly outside (or tied
    between outside and a region) counts as outside. Every lesion is counted once.

Per-subject *summary* (:data:`SUMMARY_COLUMNS`, one row): global, outside, left
and right loads (mm^3), the asymmetry index ``(L - R) / (L + R)`` (NaN when both
are 0), the number of lesions, the ICV and ``global_per_icv`` (fraction).

Cohort *wide* table, one per scheme: ``subject, global_mm3, outside_mm3`` then one
column per region, named by :func:`region_column` (``region_01`` ... for ``jhu34``,
``pvdeep_01`` ... and ``bullseye_01`` ... for the zones), holding ``lesion_mm3``.

Exact sums
----------
Region and outside loads are voxel counts times the voxel volume. The global load
(and the hemisphere sums) are the correctly rounded sum (:func:`math.fsum`) of those
rows, so ``math.fsum(regional + [outside]) == global`` holds exactly. With the usual
voxel volumes (1, 0.75, 0.9375 x 0.9375 x 3 ...: dyadic numbers) every partial sum is
exact too, so any summation order agrees; with others (1.2^3) a naive left-to-right
sum may differ from ``global_mm3`` in the last bit.

TSV files
---------
:func:`write_loads_tsv` writes tab-separated text with ``"\\n"`` line ends, missing
values as ``n/a`` (BIDS), and floats as their shortest round-trip ``repr``: reading
back with :func:`read_loads_tsv` gives bit-identical values, and the same table always
gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from wmhmap.errors import InputError
from wmhmap.geometry import voxel_sizes
from wmhmap.imageio import same_grid
from wmhmap.regions import OUTSIDE, RegionTable
from wmhmap.samplesheet import read_tsv
from wmhmap.zones import (
    PvDeepSettings,
    apply_continuity,
    brain_box,
    nearest_labels,
    scheme_table,
)

LONG_COLUMNS: tuple[str, ...] = (
    "subject",
    "scheme",
    "region_id",
    "region_name",
    "hemisphere",
    "lesion_mm3",
    "region_mm3",
    "lesion_fraction",
    "lesion_per_icv",
    "lesion_count",
)
"""Columns of the per-subject (and cohort) long table, in order."""

UNCERTAINTY_COLUMNS: tuple[str, ...] = (
    "fold_mean_mm3",
    "fold_sd_mm3",
    "fold_min_mm3",
    "fold_max_mm3",
    "expected_mm3",
    "uncertain",
    "held_out_mm3",
    "reference_mm3",
)
"""Columns the per-subject long table adds when the per-fold probabilities are known:
each row's lesion volume by every cross-validation fold's own mask (mean, SD, range),
the probability-weighted volume (``expected_mm3``: the sum of the fused probability),
``uncertain``, set where the folds' range exceeds ``max_spread`` times the load; for a
training subject the volume by the mask of the one fold that did not learn from it
(``held_out_mm3``), and for a subject with an expert mask the expert's volume
(``reference_mm3``); both empty otherwise. These two calibrate the load intervals
(:mod:`wmhmap.intervals`)."""

SUMMARY_COLUMNS: tuple[str, ...] = (
    "subject",
    "global_mm3",
    "outside_mm3",
    "left_mm3",
    "right_mm3",
    "asymmetry_index",
    "lesion_count",
    "icv_mm3",
    "global_per_icv",
)
"""Columns of the per-subject summary row, in order."""

WIDE_LEADING_COLUMNS: tuple[str, ...] = ("subject", "global_mm3", "outside_mm3")
"""First columns of the cohort wide table; region columns (:func:`region_column`) follow."""

OUTSIDE_NAME = "outside regions"
"""``region_name`` of the outside bucket (``region_id`` :data:`~wmhmap.regions.OUTSIDE`)."""

OUTSIDE_HEMISPHERE = "none"
"""``hemisphere`` of the outside bucket."""

GRID_ATOL = 1e-3
"""Largest difference between two affines (mm) still taken as the same grid."""

RESAMPLE_REGIONS_FIX = "resample the region map onto the lesion grid"

_COUNT_CHUNK = 1 << 18


JHU34 = "jhu34"
"""The study's 34 regions: the scheme of the summary and of the default wide table."""


def region_column(region_id: int, scheme: str = JHU34) -> str:
    """Name of the wide-table column holding the load of ``region_id``.

    Examples
    --------
    >>> region_column(1), region_column(34), region_column(2, "pvdeep")
    ('region_01', 'region_34', 'pvdeep_02')
    """
    if isinstance(region_id, bool) or int(region_id) != region_id or not 1 <= region_id <= 99:
        raise ValueError(f"region ids run from 1 to 99, got {region_id!r}")
    prefix = "region" if scheme == JHU34 else scheme
    return f"{prefix}_{int(region_id):02d}"


def check_same_grid(
    image: nib.Nifti1Image,
    reference: nib.Nifti1Image,
    *,
    what: str = "image",
    reference_what: str = "reference",
    image_file: str | Path | None = None,
    reference_file: str | Path | None = None,
    subject: str | None = None,
    fix: str = RESAMPLE_REGIONS_FIX,
) -> None:
    """Raise :class:`InputError` unless two images share shape and affine (within 1e-3).

    Examples
    --------
    >>> a = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4))
    >>> check_same_grid(a, a)
    >>> b = nib.Nifti1Image(np.zeros((2, 2, 3), np.uint8), np.eye(4))
    >>> check_same_grid(b, a, what="region map", reference_what="lesion mask")
    Traceback (most recent call last):
    ...
    wmhmap.errors.InputError: region map and lesion mask are not on the same grid: ...
    """
    shape = tuple(image.shape[:3])
    reference_shape = tuple(reference.shape[:3])
    affine = np.asarray(image.affine, dtype=np.float64)
    reference_affine = np.asarray(reference.affine, dtype=np.float64)
    if same_grid(image, reference, atol=GRID_ATOL):
        return
    if shape != reference_shape:
        found = f"shape {_shape_text(shape)} vs {_shape_text(reference_shape)}"
    else:
        worst = float(np.abs(affine - reference_affine).max())
        found = f"affines differ by up to {worst:.4g} mm (tolerance {GRID_ATOL:g})"
    names = ""
    if image_file is not None or reference_file is not None:
        names = f" ({what}: {image_file or 'in memory'}; {reference_what}: "
        names += f"{reference_file or 'in memory'})"
    raise InputError(
        f"{what} and {reference_what} are not on the same grid: {found}{names}",
        subject=subject,
        fix=fix,
    )


def as_lesion_mask(
    values: npt.ArrayLike, *, subject: str | None = None, file: str | Path | None = None
) -> npt.NDArray[np.bool_]:
    """Return a binary lesion mask as booleans; raise :class:`InputError` if it is not binary.

    Accepts booleans and numbers that are all 0 or 1 (any dtype). A map with values
    strictly between 0 and 1 is taken for a probability map.

    Examples
    --------
    >>> as_lesion_mask([0, 1, 1.0]).tolist()
    [False, True, True]
    >>> as_lesion_mask([0.2, 0.9])
    Traceback (most recent call last):
    ...
    wmhmap.errors.InputError: lesion mask is not binary: ...
    """
    arr = np.asanyarray(values)
    if arr.dtype == np.bool_:
        return np.asarray(arr)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(
            f"lesion mask has data type {arr.dtype}, expected 0/1 numbers or booleans",
            subject=subject,
            file=file,
            fix="pass a binary lesion mask",
        )
    if arr.dtype == np.uint8 and (arr.size == 0 or int(arr.max()) <= 1):
        return np.asarray(arr).view(np.bool_)  # 0/1 bytes are valid booleans: no copy
    if np.issubdtype(arr.dtype, np.unsignedinteger):
        binary = arr.size == 0 or int(arr.max()) <= 1
    else:
        binary = bool(np.all((arr == 0) | (arr == 1)))
    if binary:
        return np.asarray(arr == 1)
    odd = arr[(arr != 0) & (arr != 1)]
    shown = ", ".join(f"{v:g}" for v in np.unique(odd)[:5])
    if np.issubdtype(arr.dtype, np.floating) and np.all((odd > 0) & (odd < 1)):
        raise InputError(
            f"lesion mask is not binary: it holds values between 0 and 1 ({shown}, ...), "
            "like a probability map",
            subject=subject,
            file=file,
            fix="threshold it at 0.5 (mask = probability >= 0.5)",
        )
    raise InputError(
        f"lesion mask is not binary: expected only 0 and 1, found also {shown}",
        subject=subject,
        file=file,
        fix="pass a binary lesion mask (a label map with several lesion classes must be "
        "reduced to lesion = 1 first)",
    )


def as_label_map(
    values: npt.ArrayLike,
    *,
    what: str = "region map",
    subject: str | None = None,
    file: str | Path | None = None,
) -> npt.NDArray[np.integer[Any]]:
    """Return a label map as a non-negative integer array; raise :class:`InputError` otherwise.

    Float maps (e.g. written by a registration tool) are accepted when every value is
    a whole number.

    Examples
    --------
    >>> as_label_map(np.array([0.0, 3.0, 34.0])).tolist()
    [0, 3, 34]
    >>> as_label_map(np.array([0.0, 2.5]))
    Traceback (most recent call last):
    ...
    wmhmap.errors.InputError: region map holds non-integer values ...
    """
    arr = np.asanyarray(values)
    if arr.dtype == np.bool_:
        return np.asarray(arr, dtype=np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size and not np.all(np.isfinite(arr)):
            raise InputError(
                f"{what} holds NaN or infinite values, expected integer labels",
                subject=subject,
                file=file,
                fix=f"pass the {what} as written by the label propagation or region model",
            )
        as_int = arr.astype(np.int64)
        if not np.array_equal(as_int, arr):
            raise InputError(
                f"{what} holds non-integer values (was it resampled with linear interpolation?)",
                subject=subject,
                file=file,
                fix="resample label maps with nearest-neighbour (label) interpolation",
            )
        arr = as_int
    elif not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"{what} has data type {arr.dtype}, expected integer labels",
            subject=subject,
            file=file,
            fix=f"pass an integer {what}",
        )
    if np.issubdtype(arr.dtype, np.signedinteger) and arr.size and int(arr.min()) < 0:
        raise InputError(
            f"{what} holds negative labels (smallest {int(arr.min())}), expected 0 and region ids",
            subject=subject,
            file=file,
            fix=f"pass a {what} with 0 outside the regions and region ids inside",
        )
    return np.asarray(arr)


def label_voxel_counts(
    labels: npt.NDArray[np.integer[Any]], *, minlength: int = 0
) -> npt.NDArray[np.int64]:
    """Number of voxels of each label value (index = label), like ``np.bincount``.

    ``labels`` must be non-negative integers (see :func:`as_label_map`). The volume is
    counted in chunks: ``np.bincount`` first converts its input to ``intp``, and a
    chunk's converted copy stays in the CPU cache, which halves the time on a
    brain-sized ``uint8`` map.

    Examples
    --------
    >>> label_voxel_counts(np.array([[0, 2], [2, 2]], np.uint8)).tolist()
    [1, 0, 3]
    """
    flat = labels.ravel(order="K")
    counts = np.zeros(minlength, dtype=np.int64)
    for start in range(0, flat.size, _COUNT_CHUNK):
        part = np.bincount(flat[start : start + _COUNT_CHUNK], minlength=len(counts))
        if len(part) > len(counts):
            counts = np.pad(counts, (0, len(part) - len(counts)))
        counts += part
    return counts


class LesionComponents(NamedTuple):
    """The 26-connected lesions of a mask, listed per lesion voxel."""

    voxels: tuple[npt.NDArray[np.intp], ...]
    """Indices of the lesion voxels, one array per axis (``mask[voxels]`` is all True), in
    the mask's memory order (C or Fortran)."""
    component: npt.NDArray[np.intp]
    """Lesion (0 .. n_lesions - 1) of each voxel in ``voxels``."""
    n_lesions: int
    """Number of lesions."""


def lesion_components(mask: npt.NDArray[np.bool_]) -> LesionComponents:
    """Find the 26-connected components (lesions) of a 3-D boolean mask.

    The partition is the one ``scipy.ndimage.label(mask, np.ones((3, 3, 3)))`` gives,
    but the work is proportional to the number of lesion voxels, not to the volume:
    runs of lesion voxels along the memory axis are linked to the runs they touch in
    the neighbouring rows, and ``scipy.sparse.csgraph.connected_components`` joins
    them. On a brain-sized volume this is many times faster than labelling the volume.

    Examples
    --------
    >>> m = np.zeros((4, 4, 1), bool)
    >>> m[0, 0, 0] = m[1, 1, 0] = m[3, 3, 0] = True
    >>> found = lesion_components(m)
    >>> found.n_lesions, found.component.tolist()
    (2, [0, 0, 1])
    """
    if mask.ndim != 3:
        raise ValueError(f"lesion_components needs a 3-D mask, got {mask.ndim}-D")
    # Walk the mask in memory order (nibabel arrays are Fortran-ordered): no copy, and
    # np.flatnonzero on the flat view is many times faster than np.nonzero in 3-D.
    order: Literal["C", "F"] = (
        "F" if mask.flags.f_contiguous and not mask.flags.c_contiguous else "C"
    )
    voxels = np.unravel_index(np.flatnonzero(mask.ravel(order=order)), mask.shape, order=order)
    n_voxels = len(voxels[0])
    if n_voxels == 0:
        return LesionComponents(voxels, np.zeros(0, dtype=np.intp), 0)
    # Index the voxels in a grid padded by one voxel on every side, so that no run or
    # neighbour wraps round an edge. Indices come out sorted (memory order).
    padded = tuple(s + 2 for s in mask.shape)
    flat = np.ravel_multi_index(tuple(v + 1 for v in voxels), padded, order=order)
    # Runs: maximal stretches of lesion voxels along the fastest (memory) axis. A row is
    # a line of the grid along that axis; with C order rows are numbered (i, j), with
    # Fortran order (k, j): row = outer * padded[1] + inner either way.
    breaks = np.flatnonzero(np.diff(flat) != 1) + 1
    run_start = np.concatenate(([0], breaks))
    run_stop = np.concatenate((breaks, [n_voxels]))
    first = flat[run_start]  # padded index of each run's first voxel (sorted)
    last = flat[run_stop - 1]  # ... and of its last voxel (sorted)
    row_length = padded[2] if order == "C" else padded[0]
    row = first // row_length
    first_along = first % row_length
    last_along = last % row_length
    # Two runs are 26-neighbours when their rows are neighbours (8-neighbourhood of the
    # row grid; the 4 "forward" ones suffice) and their extents overlap or touch.
    # The runs of one row are disjoint and sorted, so those a run touches in another row
    # form one contiguous range [lo, hi) of the run list, found by binary search.
    n_runs = len(run_start)
    sources = []
    targets = []
    for row_step in (1, padded[1] - 1, padded[1], padded[1] + 1):
        other_row = (row + row_step) * row_length
        lo = np.searchsorted(last, other_row + first_along - 1, side="left")
        hi = np.searchsorted(first, other_row + last_along + 1, side="right")
        touching = np.maximum(hi - lo, 0)
        total = int(touching.sum())
        if total == 0:
            continue
        sources.append(np.repeat(np.arange(n_runs), touching))
        range_start = np.repeat(lo - (np.cumsum(touching) - touching), touching)
        targets.append(range_start + np.arange(total))
    links = np.concatenate(sources) if sources else np.zeros(0, dtype=np.intp)
    graph = sparse.coo_matrix(
        (
            np.ones(len(links), dtype=np.int8),
            (links, np.concatenate(targets) if targets else links),
        ),
        shape=(n_runs, n_runs),
    )
    n_lesions, run_lesion = csgraph.connected_components(graph, directed=False)
    component = np.repeat(run_lesion.astype(np.intp), run_stop - run_start)
    return LesionComponents(voxels, component, int(n_lesions))


def regional_loads(
    lesion_mask: npt.ArrayLike,
    region_map: npt.ArrayLike,
    table: RegionTable,
    *,
    voxel_volume_mm3: float,
    subject: str,
    icv_mm3: float | None = None,
    scheme: str = JHU34,
) -> pd.DataFrame:
    """Lesion load of every region, and outside them, for one subject (long table).

    Parameters
    ----------
    lesion_mask
        Binary 3-D lesion mask (0/1 or booleans).
    region_map
        Region label map on the same grid: 0 outside the regions, region ids inside.
    table
        The regions; labels of the map that it does not list are an error.
    voxel_volume_mm3
        Volume of one voxel in mm^3.
    subject
        Subject id, written to the ``subject`` column and named in errors.
    icv_mm3
        Intracranial volume (mm^3) for ``lesion_per_icv``; NaN there when omitted.
    scheme
        The geography the map's labels belong to (the ``scheme`` column).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LONG_COLUMNS`; rows: the regions in table order, then outside.

    Examples
    --------
    >>> from wmhmap.regions import Region
    >>> t = RegionTable((Region(1, "left", "a", ()), Region(2, "right", "b", ())))
    >>> regions = np.array([[[0, 1, 1, 2, 2, 2]]])
    >>> lesions = np.array([[[1, 1, 0, 1, 1, 0]]])
    >>> loads = regional_loads(lesions, regions, t, voxel_volume_mm3=0.75, subject="01")
    >>> loads[["region_id", "lesion_mm3", "region_mm3", "lesion_count"]].to_numpy().tolist()
    [[1.0, 0.75, 1.5, 0.0], [2.0, 1.5, 2.25, 1.0], [0.0, 0.75, nan, 1.0]]
    """
    mask = as_lesion_mask(lesion_mask, subject=subject)
    regions = as_label_map(region_map, subject=subject)
    if mask.ndim != 3 or mask.shape != regions.shape:
        raise InputError(
            f"lesion mask has shape {_shape_text(mask.shape)} and region map "
            f"{_shape_text(regions.shape)}, expected the same 3-D shape",
            subject=subject,
            fix=RESAMPLE_REGIONS_FIX,
        )
    return _regional_loads(
        mask,
        regions,
        table,
        voxel_volume_mm3=voxel_volume_mm3,
        subject=subject,
        icv_mm3=icv_mm3,
        region_file=None,
        scheme=scheme,
    )


def lesions_count_as_white_matter(
    regions: npt.NDArray[np.integer[Any]],
    parcels: npt.NDArray[np.integer[Any]],
    lesion_mask: npt.ArrayLike,
    table: RegionTable,
) -> npt.NDArray[np.uint8]:
    """The region map with lesion voxels it leaves outside (0) given their parcel's region.

    White-matter region maps come from a T1w tissue segmentation, where WMH are dark
    and often land in grey matter or CSF; left as they are, those lesion voxels would
    drop out of every region. They take the region of the atlas parcel they lie in (when
    it is one), and count in that region's volume too, so fractions stay within [0, 1].
    With a whole-parcel region map (``parcels`` equal to ``regions``) nothing changes.

    Examples
    --------
    >>> from wmhmap.regions import Region
    >>> t = RegionTable((Region(1, "left", "a", ()), Region(2, "right", "b", ())))
    >>> wm = np.array([1, 0, 0, 0, 35])
    >>> parcels = np.array([1, 2, 2, 35, 1])
    >>> lesions_count_as_white_matter(wm, parcels, [1, 1, 0, 1, 1], t).tolist()
    [1, 2, 0, 0, 35]
    """
    out = np.array(regions, dtype=np.uint8)
    lesion = np.asarray(lesion_mask, dtype=bool)
    parcel = np.asarray(parcels)
    take = lesion & (out == OUTSIDE) & np.isin(parcel, table.ids)
    out[take] = parcel[take]
    return out


def load_uncertainty(
    fold_probabilities: npt.ArrayLike,
    region_map_for: Callable[[npt.NDArray[np.bool_]], npt.NDArray[np.integer[Any]]],
    loads: pd.DataFrame,
    table: RegionTable,
    *,
    voxel_volume_mm3: float,
    max_spread: float,
    held_out_fold: int | None = None,
    reference: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """A subject's long table with :data:`UNCERTAINTY_COLUMNS` added, from what inference
    already keeps: the WMH probability of every cross-validation fold.

    Parameters
    ----------
    fold_probabilities
        4-D array, the last axis one fold's P(WMH) in [0, 1] on the region map's grid.
    region_map_for
        The region map the loads use for a lesion mask (the lesions that lie outside the
        white matter join their parcel's region: :func:`lesions_count_as_white_matter`).
    loads
        The long table of the final (fused) mask (:func:`regional_loads`).
    max_spread
        A row is ``uncertain`` when the folds' range (max - min) exceeds this times its
        load (times one voxel for a row without load).
    held_out_fold
        For a training subject, the index (last axis) of the fold that held it out:
        its load is ``held_out_mm3``.
    reference
        The subject's expert lesion mask on the same grid: its load is ``reference_mm3``.

    Examples
    --------
    >>> from wmhmap.regions import Region
    >>> t = RegionTable((Region(1, "left", "a", ()), Region(2, "right", "b", ())))
    >>> regions = np.array([[[1, 1, 1, 2, 2, 2]]])
    >>> folds = np.array([[[[.9, .8], [.9, .2], [0, 0], [.6, .7], [0, 0], [0, .4]]]])
    >>> loads = regional_loads(folds.mean(-1) >= .5, regions, t, voxel_volume_mm3=1.0,
    ...                        subject="01")
    >>> out = load_uncertainty(folds, lambda m: regions, loads, t, voxel_volume_mm3=1.0,
    ...                        max_spread=0.5)
    >>> out[["region_id", "lesion_mm3", "fold_min_mm3", "fold_max_mm3", "uncertain"]
    ...     ].to_numpy().tolist()
    [[1, 2.0, 1.0, 2.0, False], [2, 1.0, 1.0, 1.0, False], [0, 0.0, 0.0, 0.0, False]]
    >>> round(float(out.expected_mm3.iloc[0]), 2), round(float(out.expected_mm3.iloc[1]), 2)
    (1.4, 0.85)
    >>> expert = np.array([[[1, 1, 1, 0, 0, 1]]], bool)
    >>> out = load_uncertainty(folds, lambda m: regions, loads, t, voxel_volume_mm3=1.0,
    ...                        max_spread=0.5, held_out_fold=1, reference=expert)
    >>> out[["held_out_mm3", "reference_mm3"]].to_numpy().tolist()
    [[1.0, 3.0], [1.0, 1.0], [0.0, 0.0]]
    """
    probabilities = np.asarray(fold_probabilities, dtype=np.float32)
    if probabilities.ndim != 4:
        raise InputError(
            f"fold probabilities have {probabilities.ndim} dimensions, expected 4 (x, y, z, fold)",
            fix="pass the desc-folds probseg of the segmentation",
        )
    width = table.max_id + 1
    in_table = np.zeros(max(width, 256), dtype=np.intp)
    in_table[table.ids] = table.ids
    row_ids = np.append(table.ids, OUTSIDE)

    def per_row(labels: npt.NDArray[np.integer[Any]], weights: Any = None) -> Any:
        counts = np.bincount(in_table[labels.astype(np.intp)], weights=weights, minlength=width)
        return counts[row_ids] * voxel_volume_mm3

    fold_loads = []
    for k in range(probabilities.shape[-1]):
        mask = probabilities[..., k] >= 0.5
        fold_loads.append(per_row(np.asarray(region_map_for(mask))[mask]))
    by_fold = np.array(fold_loads, dtype=np.float64)  # folds x rows
    fused = probabilities.mean(axis=-1)
    candidates = fused > 0
    final = np.asarray(region_map_for(fused >= 0.5))
    expected = per_row(final[candidates], weights=fused[candidates].astype(np.float64))
    out = loads.copy()
    lesion = out["lesion_mm3"].to_numpy(dtype=np.float64)
    out["fold_mean_mm3"] = by_fold.mean(axis=0)
    out["fold_sd_mm3"] = by_fold.std(axis=0, ddof=1) if len(by_fold) > 1 else 0.0
    out["fold_min_mm3"] = by_fold.min(axis=0)
    out["fold_max_mm3"] = by_fold.max(axis=0)
    out["expected_mm3"] = expected
    spread = out["fold_max_mm3"] - out["fold_min_mm3"]
    out["uncertain"] = spread > max_spread * np.maximum(lesion, voxel_volume_mm3)
    out["held_out_mm3"] = np.nan
    if held_out_fold is not None:
        if not 0 <= held_out_fold < len(by_fold):
            raise InputError(
                f"held-out fold {held_out_fold} is not one of the {len(by_fold)} folds",
                fix="pass the fold index of the desc-folds probseg",
            )
        out["held_out_mm3"] = by_fold[held_out_fold]
    out["reference_mm3"] = np.nan
    if reference is not None:
        expert = np.asarray(reference) > 0
        out["reference_mm3"] = per_row(np.asarray(region_map_for(expert))[expert])
    return out


def regional_loads_from_images(
    lesion_image: nib.Nifti1Image,
    region_image: nib.Nifti1Image,
    table: RegionTable,
    *,
    subject: str,
    icv_mm3: float | None = None,
    lesion_file: str | Path | None = None,
    region_file: str | Path | None = None,
    scheme: str = JHU34,
) -> pd.DataFrame:
    """:func:`regional_loads` for two images on the same grid (voxel volume from the header).

    ``lesion_file`` and ``region_file`` only name the images in error messages.
    """
    inputs = (
        (lesion_image, "lesion mask", lesion_file),
        (region_image, "region map", region_file),
    )
    for image, name, file in inputs:
        if len(image.shape) != 3:
            raise InputError(
                f"{name} is {len(image.shape)}-D (shape {_shape_text(image.shape)}), expected 3-D",
                subject=subject,
                file=file,
                fix="pass one 3-D volume",
            )
    check_same_grid(
        region_image,
        lesion_image,
        what="region map",
        reference_what="lesion mask",
        image_file=region_file,
        reference_file=lesion_file,
        subject=subject,
    )
    mask = as_lesion_mask(np.asanyarray(lesion_image.dataobj), subject=subject, file=lesion_file)
    regions = as_label_map(np.asanyarray(region_image.dataobj), subject=subject, file=region_file)
    return _regional_loads(
        mask,
        regions,
        table,
        voxel_volume_mm3=_voxel_volume_from_zooms(lesion_image),
        subject=subject,
        icv_mm3=icv_mm3,
        region_file=region_file,
        scheme=scheme,
    )


def regional_loads_from_files(
    lesion_path: str | Path,
    region_path: str | Path,
    table: RegionTable,
    *,
    subject: str,
    icv_mm3: float | None = None,
) -> pd.DataFrame:
    """:func:`regional_loads_from_images` on two NIfTI files."""
    images = []
    for path in (lesion_path, region_path):
        if not Path(path).is_file():
            raise InputError("image not found", subject=subject, file=path, fix="check the path")
        image = nib.load(path)
        if not isinstance(image, nib.Nifti1Image):
            raise InputError(
                f"file is a {type(image).__name__}, expected a NIfTI image",
                subject=subject,
                file=path,
                fix="pass a NIfTI image",
            )
        images.append(image)
    return regional_loads_from_images(
        images[0],
        images[1],
        table,
        subject=subject,
        icv_mm3=icv_mm3,
        lesion_file=lesion_path,
        region_file=region_path,
    )


def _regional_loads(
    mask: npt.NDArray[np.bool_],
    regions: npt.NDArray[np.integer[Any]],
    table: RegionTable,
    *,
    voxel_volume_mm3: float,
    subject: str,
    icv_mm3: float | None,
    region_file: str | Path | None,
    scheme: str = JHU34,
) -> pd.DataFrame:
    if not (math.isfinite(voxel_volume_mm3) and voxel_volume_mm3 > 0):
        raise InputError(
            f"voxel volume is {voxel_volume_mm3} mm^3, expected a positive number",
            subject=subject,
            file=region_file,
            fix="check the voxel sizes (pixdim) in the image header",
        )
    if icv_mm3 is not None and not (math.isfinite(icv_mm3) and icv_mm3 > 0):
        raise InputError(
            f"intracranial volume is {icv_mm3} mm^3, expected a positive number",
            subject=subject,
            fix="pass the ICV in mm^3, or none",
        )
    # The one pass over the volume: voxels per label, which also lists the labels present.
    region_voxels = label_voxel_counts(regions, minlength=table.max_id + 1)
    try:
        table.check_labels(np.flatnonzero(region_voxels), file=region_file)
    except InputError as error:
        raise error.for_subject(subject) from None
    width = len(region_voxels)

    # Everything else looks at lesion voxels only.
    lesions = lesion_components(mask)
    # Labels that are no region (the atlas's "other" white matter, 35/36) count as outside.
    in_table = np.zeros(width, dtype=np.intp)
    in_table[table.ids] = table.ids
    lesion_labels = in_table[regions[lesions.voxels].astype(np.intp)]
    overlap = np.bincount(
        lesions.component * width + lesion_labels, minlength=lesions.n_lesions * width
    ).reshape(lesions.n_lesions, width)
    lesion_voxels = overlap.sum(axis=0)
    # argmax takes the first maximum: ties go to the lowest label, outside (0) included.
    owner = overlap.argmax(axis=1) if lesions.n_lesions else np.zeros(0, dtype=np.intp)
    lesion_counts = np.bincount(owner, minlength=width)

    ids = table.ids
    row_ids = np.append(ids, OUTSIDE)
    lesion_mm3 = lesion_voxels[row_ids] * voxel_volume_mm3
    region_mm3 = region_voxels[ids] * voxel_volume_mm3
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(region_mm3 > 0, lesion_mm3[:-1] / region_mm3, np.nan)
    per_icv = lesion_mm3 / icv_mm3 if icv_mm3 is not None else np.full(len(row_ids), np.nan)
    return pd.DataFrame(
        {
            "subject": [subject] * len(row_ids),
            "scheme": [scheme] * len(row_ids),
            "region_id": row_ids.astype(np.int64),
            "region_name": [r.name for r in table] + [OUTSIDE_NAME],
            "hemisphere": [r.hemisphere for r in table] + [OUTSIDE_HEMISPHERE],
            "lesion_mm3": lesion_mm3.astype(np.float64),
            "region_mm3": np.append(region_mm3, np.nan).astype(np.float64),
            "lesion_fraction": np.append(fraction, np.nan).astype(np.float64),
            "lesion_per_icv": np.asarray(per_icv, dtype=np.float64),
            "lesion_count": lesion_counts[row_ids].astype(np.int64),
        },
        columns=list(LONG_COLUMNS),
    )


def of_scheme(long_table: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """The rows of one scheme (a table without a ``scheme`` column is all ``jhu34``)."""
    if "scheme" not in long_table.columns:
        if scheme != JHU34:
            raise InputError(
                f"the loads table has no scheme column, so no {scheme} rows",
                fix="recompute the loads with the zone schemes on (zones.schemes)",
            )
        return long_table
    return long_table[long_table["scheme"] == scheme]


def summarize_loads(long_table: pd.DataFrame, *, icv_mm3: float | None = None) -> pd.DataFrame:
    """One-row summary of one subject's long table (columns :data:`SUMMARY_COLUMNS`),
    from its ``jhu34`` rows (every scheme partitions the same lesions).

    ``global_mm3`` is the :func:`math.fsum` of every row's ``lesion_mm3`` (regions and
    outside); ``left_mm3`` / ``right_mm3`` of the left / right regions; ``lesion_count``
    is the total number of lesions; ``global_per_icv`` a fraction of ``icv_mm3`` (NaN
    without it).

    Examples
    --------
    >>> long = pd.DataFrame({"subject": "01", "region_id": [1, 2, 0],
    ...     "hemisphere": ["left", "right", "none"], "lesion_mm3": [3.0, 1.0, 0.5],
    ...     "lesion_count": [2, 1, 1]})
    >>> row = summarize_loads(long, icv_mm3=1.5e6).to_dict("records")[0]
    >>> row["global_mm3"], row["asymmetry_index"], row["lesion_count"], row["global_per_icv"]
    (4.5, 0.5, 4, 3e-06)
    """
    _require_columns(
        long_table, ("subject", "region_id", "hemisphere", "lesion_mm3", "lesion_count"), "long"
    )
    subjects = long_table["subject"].unique()
    if len(subjects) != 1:
        raise InputError(
            f"summarize_loads needs one subject's long table, found {len(subjects)} subjects",
            fix="summarize each subject's table separately",
        )
    subject = str(subjects[0])
    if icv_mm3 is not None and not (math.isfinite(icv_mm3) and icv_mm3 > 0):
        raise InputError(
            f"intracranial volume is {icv_mm3} mm^3, expected a positive number",
            subject=subject,
            fix="pass the ICV in mm^3, or none",
        )
    long_table = of_scheme(long_table, JHU34)
    loads = long_table["lesion_mm3"].to_numpy(dtype=np.float64)
    region_id = long_table["region_id"].to_numpy()
    hemisphere = long_table["hemisphere"].to_numpy()
    global_mm3 = math.fsum(loads)
    left = math.fsum(loads[(hemisphere == "left") & (region_id != OUTSIDE)])
    right = math.fsum(loads[(hemisphere == "right") & (region_id != OUTSIDE)])
    icv = math.nan if icv_mm3 is None else float(icv_mm3)
    return pd.DataFrame(
        {
            "subject": [subject],
            "global_mm3": [global_mm3],
            "outside_mm3": [math.fsum(loads[region_id == OUTSIDE])],
            "left_mm3": [left],
            "right_mm3": [right],
            "asymmetry_index": [asymmetry_index(left, right)],
            "lesion_count": [int(long_table["lesion_count"].sum())],
            "icv_mm3": [icv],
            "global_per_icv": [global_mm3 / icv],
        },
        columns=list(SUMMARY_COLUMNS),
    )


def asymmetry_index(left: float, right: float) -> float:
    """``(left - right) / (left + right)``: +1 all left, -1 all right, NaN when both are 0.

    Examples
    --------
    >>> asymmetry_index(3.0, 1.0), asymmetry_index(0.0, 2.0)
    (0.5, -1.0)
    >>> asymmetry_index(0.0, 0.0)
    nan
    """
    total = left + right
    return (left - right) / total if total != 0 else math.nan


def cohort_long(long_tables: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Stack per-subject long tables into one cohort long table (subjects in input order).

    Raises :class:`InputError` when a table lacks a column of :data:`LONG_COLUMNS` or a
    subject comes twice.
    """
    tables = list(long_tables)
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=_LONG_DTYPES[c]) for c in LONG_COLUMNS})
    seen: set[str] = set()
    for table in tables:
        _require_columns(table, LONG_COLUMNS, "long")
        subjects = set(table["subject"].astype(str).unique())
        repeated = sorted(seen & subjects)
        if repeated:
            raise InputError(
                f"subject {repeated[0]} appears in more than one long table",
                subject=repeated[0],
                fix="pass each subject's table once",
            )
        seen |= subjects
    # the per-fold uncertainty columns travel along when every table has them
    extra = [c for c in UNCERTAINTY_COLUMNS if all(c in t.columns for t in tables)]
    return pd.concat([t[[*LONG_COLUMNS, *extra]] for t in tables], ignore_index=True)


def cohort_wide(
    long_tables: Iterable[pd.DataFrame] | pd.DataFrame, scheme: str = JHU34
) -> pd.DataFrame:
    """One row per subject: ``subject, global_mm3, outside_mm3, region_01, ...`` (lesion mm^3).

    ``long_tables`` is a list of per-subject long tables or one cohort long table; the
    rows of ``scheme`` are used (columns :func:`region_column` of the scheme).
    Region columns follow the region order of the first subject; every subject must
    have the same regions. ``global_mm3`` is the :func:`math.fsum` of the subject's rows.

    Examples
    --------
    >>> long = pd.DataFrame({"subject": ["a", "a", "a", "b", "b", "b"],
    ...     "region_id": [1, 2, 0] * 2, "lesion_mm3": [1.0, 2.0, 0.5, 0.0, 4.0, 0.0]})
    >>> cohort_wide(long).to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'subject': ['a', 'b'], 'global_mm3': [3.5, 4.0], 'outside_mm3': [0.5, 0.0],
     'region_01': [1.0, 0.0], 'region_02': [2.0, 4.0]}
    """
    if isinstance(long_tables, pd.DataFrame):
        long = long_tables
    else:
        tables = list(long_tables)
        for table in tables:
            _require_columns(table, ("subject", "region_id", "lesion_mm3"), "long")
        long = (
            pd.concat([of_scheme(t, scheme) for t in tables], ignore_index=True)
            if tables
            else pd.DataFrame({"subject": [], "region_id": [], "lesion_mm3": []})
        )
    _require_columns(long, ("subject", "region_id", "lesion_mm3"), "long")
    long = of_scheme(long, scheme)
    duplicated = long.duplicated(["subject", "region_id"])
    if duplicated.any():
        first = long[duplicated].iloc[0]
        raise InputError(
            f"region {first.region_id} appears more than once for subject {first.subject}",
            subject=str(first.subject),
            fix="pass each subject's long table once",
        )
    subjects: list[str] = []
    rows: list[dict[str, Any]] = []
    region_ids: list[int] | None = None
    for subject, group in long.groupby("subject", sort=False):
        ids = [int(i) for i in group["region_id"] if int(i) != OUTSIDE]
        loads = dict(
            zip(group["region_id"].astype(int), group["lesion_mm3"].astype(float), strict=True)
        )
        if region_ids is None:
            region_ids = ids
        elif sorted(ids) != sorted(region_ids):
            raise InputError(
                f"subject {subject} has regions {_ids_text(ids)}, the first subject "
                f"{subjects[0]} {_ids_text(region_ids)}",
                subject=str(subject),
                fix="compute every subject's loads with the same region table",
            )
        subjects.append(str(subject))
        row: dict[str, Any] = {
            "subject": str(subject),
            "global_mm3": math.fsum(group["lesion_mm3"].astype(float)),
            "outside_mm3": loads.get(OUTSIDE, 0.0),
        }
        row.update({region_column(i, scheme): loads[i] for i in region_ids})
        rows.append(row)
    columns = list(WIDE_LEADING_COLUMNS) + [region_column(i, scheme) for i in region_ids or []]
    return pd.DataFrame(rows, columns=columns)


def write_loads_tsv(table: pd.DataFrame, path: str | Path) -> None:
    """Write a loads table (long, summary or wide) as TSV; same table, same bytes.

    Floats are written as their shortest round-trip ``repr``, missing values as ``n/a``.
    """
    table.to_csv(path, sep="\t", index=False, na_rep="n/a", lineterminator="\n")


def read_loads_tsv(path: str | Path, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a TSV written by :func:`write_loads_tsv`, values bit-identical to those written.

    ``subject``, ``region_name`` and ``hemisphere`` stay text (``"001"`` keeps its
    zeros); ``n/a`` becomes NaN. ``columns`` (e.g. :data:`LONG_COLUMNS`) are required.
    """
    path = Path(path)
    table = read_tsv(
        path,
        what="loads table",
        missing_fix="check the path",
        unreadable_fix="pass a table written by wmhmap's regional loads step",
        dtype={"subject": str, "scheme": str, "region_name": str, "hemisphere": str},
        na_values=["n/a"],
        keep_default_na=False,
        float_precision="round_trip",
    )
    if columns is not None:
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise InputError(
                f"loads table lacks column(s) {', '.join(missing)}",
                file=path,
                fix="pass a table written by wmhmap's regional loads step",
            )
    return table


_LONG_DTYPES: dict[str, str] = {
    "subject": "object",
    "scheme": "object",
    "region_id": "int64",
    "region_name": "object",
    "hemisphere": "object",
    "lesion_mm3": "float64",
    "region_mm3": "float64",
    "lesion_fraction": "float64",
    "lesion_per_icv": "float64",
    "lesion_count": "int64",
}


def _require_columns(table: pd.DataFrame, columns: Sequence[str], kind: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"{kind} table lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, table.columns)) or 'none'}",
            fix=f"pass the {kind} table made by wmhmap.loads",
        )


def _voxel_volume_from_zooms(image: nib.Nifti1Image) -> float:
    return float(np.prod(np.asarray(image.header.get_zooms()[:3], dtype=np.float64)))


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def _ids_text(ids: Sequence[int]) -> str:
    ordered = sorted(ids)
    if ordered and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}..{ordered[-1]}"
    return ", ".join(str(i) for i in ordered)


def zone_loads(
    loads: pd.DataFrame,
    scheme: str,
    zones: npt.NDArray[np.integer[Any]],
    lesions: nib.Nifti1Image,
    fold_probabilities: npt.ArrayLike | None,
    brain: npt.ArrayLike,
    *,
    pvdeep: PvDeepSettings | None = None,
    icv_mm3: float | None = None,
    max_spread: float = 0.5,
    held_out_fold: int | None = None,
    reference: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """A subject's long loads table with the rows of one zone scheme appended.

    The lesions are counted in the zone map as the 34 regions count them: lesion voxels
    the map leaves out (inside the brain) take the nearest zone, and with
    ``pvdeep.continuity`` whole lesions take the ventricle band they touch. With
    ``fold_probabilities`` the rows get the per-fold uncertainty columns too
    (``held_out_fold`` and ``reference`` as in :func:`load_uncertainty`).
    """
    s = pvdeep or PvDeepSettings()
    table = scheme_table(scheme, s)
    zooms = voxel_sizes(lesions)
    voxel_mm3 = float(np.prod(zooms))
    zone_map = np.asarray(zones).astype(np.uint8)
    in_brain = np.asarray(brain, bool)
    box = brain_box(in_brain)
    nearest: list[npt.NDArray[Any]] = []  # the nearest zone of every voxel, when needed

    def zone_map_for(mask: npt.NDArray[np.bool_]) -> npt.NDArray[Any]:
        missing = mask & in_brain & (zone_map == 0)
        out = zone_map
        if missing.any() and zone_map.any():
            if not nearest:
                nearest.append(np.zeros_like(zone_map))
                nearest[0][box] = nearest_labels(zone_map[box], zooms)
            out = np.where(missing, nearest[0], zone_map)
        if scheme == "pvdeep" and s.continuity:
            out = apply_continuity(out, mask, s)
        return out

    mask = np.asarray(lesions.dataobj) > 0
    subject = str(loads["subject"].iloc[0])
    rows = regional_loads(
        mask,
        zone_map_for(mask),
        table,
        voxel_volume_mm3=voxel_mm3,
        subject=subject,
        icv_mm3=icv_mm3,
        scheme=scheme,
    )
    if fold_probabilities is not None:
        rows = load_uncertainty(
            fold_probabilities,
            zone_map_for,
            rows,
            table,
            voxel_volume_mm3=voxel_mm3,
            max_spread=max_spread,
            held_out_fold=held_out_fold,
            reference=reference,
        )
    return pd.concat([loads, rows], ignore_index=True)
