"""Quality-control figures: label maps and masks over a subject's image."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import nibabel as nib
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from wmhmap.geometry import reorient_to_ras, voxel_sizes


def _label_colours(n: int) -> ListedColormap:
    from matplotlib import colormaps

    base = colormaps["tab20"].colors + colormaps["tab20b"].colors  # type: ignore[attr-defined]
    return ListedColormap([base[i % len(base)] for i in range(n)])


def _slices(mask: npt.NDArray[np.bool_], axis: int, n: int) -> list[int]:
    idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
    if idx.size == 0:
        return [mask.shape[axis] // 2] * n
    return [int(v) for v in np.linspace(idx[0], idx[-1], n + 2)[1:-1].round()]


def label_overlay_figure(
    image: nib.Nifti1Image,
    labels: nib.Nifti1Image,
    outline: nib.Nifti1Image | None = None,
    title: str = "",
    n_axial: int = 4,
) -> Figure:
    """Axial, coronal and sagittal slices of ``image`` with ``labels`` in colour.

    ``outline`` (e.g. the brain mask) is drawn as a red contour. All three images must
    share a grid; they are shown in RAS orientation (left of the brain on the left of
    the panel, radiological readers beware), with true voxel aspect ratios.
    """
    img = reorient_to_ras(image)
    lab = np.asarray(reorient_to_ras(labels).dataobj).astype(np.int32)
    data = np.asarray(img.dataobj, dtype=np.float32)
    line = None if outline is None else np.asarray(reorient_to_ras(outline).dataobj) > 0
    vmax = float(np.percentile(data[data > 0], 99)) if (data > 0).any() else 1.0
    sx, sy, sz = voxel_sizes(img)
    cmap = _label_colours(max(int(lab.max()), 1))
    fig = Figure(figsize=(3.0 * (n_axial + 2), 3.4))
    axes = fig.subplots(1, n_axial + 2)
    present = lab > 0
    views = [(2, k) for k in _slices(present, 2, n_axial)]
    views += [
        (1, _slices(present, 1, 1)[0]),
        (0, _slices(present, 0, 1)[0] if present.any() else lab.shape[0] // 2),
    ]

    def cut(volume: npt.NDArray[np.generic], axis: int, k: int) -> npt.NDArray[np.generic]:
        return np.take(volume, k, axis=axis).T

    for ax, (axis, k) in zip(axes, views, strict=True):
        aspect = {2: sy / sx, 1: sz / sx, 0: sz / sy}[axis]
        ax.imshow(cut(data, axis, k), cmap="gray", vmin=0, vmax=vmax, origin="lower", aspect=aspect)
        ax.imshow(
            np.ma.masked_equal(cut(lab, axis, k), 0),
            cmap=cmap,
            alpha=0.45,
            origin="lower",
            aspect=aspect,
            interpolation="nearest",
            vmin=1,
            vmax=max(int(lab.max()), 1),
        )
        if line is not None and cut(line, axis, k).any():
            ax.contour(cut(line, axis, k).astype(float), levels=[0.5], colors="red", linewidths=0.6)
        ax.set_title(f"{'xyz'[axis]} = {k}", fontsize=8)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _lesion_cuts(lesions: nib.Nifti1Image, fallback: nib.Nifti1Image, cuts: int) -> list[float]:
    """World z of the ``cuts`` axial slices holding the most lesion voxels (RAS image)."""
    data = np.asarray(lesions.dataobj) > 0
    per_slice = data.sum(axis=(0, 1))
    if data.any():
        candidates = np.flatnonzero(per_slice)
    else:
        candidates = np.flatnonzero((np.asarray(fallback.dataobj) > 0).any(axis=(0, 1)))
    chosen = sorted(candidates[np.argsort(per_slice[candidates])[::-1][:cuts]])
    return [float(nib.affines.apply_affine(lesions.affine, [0, 0, k])[2]) for k in chosen]


@contextmanager
def _objects_so_far_left_to_gc() -> Iterator[None]:
    """Exempt the objects alive now from garbage collection while nilearn plots.

    nilearn's ``plot_roi`` runs a full ``gc.collect()`` for every image it reads; after
    the imports of a rule script (statsmodels, pandas, nilearn) each walk of millions of
    objects took 0.2-0.4 s, most of a figure's time. Frozen objects are only skipped by
    the collector, not kept: they are collected as usual after ``gc.unfreeze()``.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _plot_row(
    ax: Axes,
    background: nib.Nifti1Image,
    roi: nib.Nifti1Image,
    z_world: list[float],
    overlay: str,
    title: str,
) -> None:
    from nilearn import plotting

    plotting.plot_roi(
        roi,
        bg_img=background,
        display_mode="z",
        cut_coords=z_world or 1,
        axes=ax,
        cmap="autumn" if overlay == "lesions" else _label_colours(35),
        alpha=0.6,
        black_bg=True,
        draw_cross=False,
        annotate=False,
        colorbar=False,
    )
    ax.set_title(title, fontsize=9, loc="left")


def lesion_region_overlay(
    images: dict[str, nib.Nifti1Image],
    lesions: nib.Nifti1Image,
    regions: nib.Nifti1Image,
    *,
    title: str = "",
    cuts: int = 6,
) -> Figure:
    """Lesions (red) and the 34 regions (colours) over each image, axial slices (nilearn).

    One row per image and overlay (``images`` maps a name such as ``FLAIR`` to an image
    on the lesions' grid); the slices are those with the most lesion voxels, so the
    figure shows where the load is.
    """
    z_world = _lesion_cuts(lesions, regions, cuts)
    rows = [(name, overlay) for name in images for overlay in ("lesions", "regions")]
    fig = Figure(figsize=(2.0 * max(len(z_world), 1) + 1, 2.2 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    with _objects_so_far_left_to_gc():
        for ax, (name, overlay) in zip(axes, rows, strict=True):
            roi = lesions if overlay == "lesions" else regions
            _plot_row(ax, images[name], roi, z_world, overlay, f"{name}: {overlay}")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def high_load_panel(
    subjects: list[tuple[str, nib.Nifti1Image, nib.Nifti1Image, float]], *, cuts: int = 6
) -> Figure:
    """Lesions over FLAIR for representative high-load subjects, one row each.

    ``subjects`` holds (subject id, FLAIR, lesion mask, global load in mL).
    """
    fig = Figure(figsize=(2.0 * cuts + 1, 2.2 * max(len(subjects), 1)), layout="constrained")
    axes = fig.subplots(max(len(subjects), 1), 1, squeeze=False)[:, 0]
    with _objects_so_far_left_to_gc():
        for ax, (subject, flair, lesions, load_ml) in zip(axes, subjects, strict=False):
            z_world = _lesion_cuts(lesions, flair, cuts)
            _plot_row(ax, flair, lesions, z_world, "lesions", f"sub-{subject}: {load_ml:.1f} mL")
    return fig
