"""Quality-control figures: label maps and masks over a subject's image."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import numpy.typing as npt
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
