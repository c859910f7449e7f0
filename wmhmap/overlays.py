"""Per-subject figures of lesions, regions and loads: the report's lesion/region overlay,
the slices the high-load panel (:mod:`wmhmap.highload`) is made of, and the bars of a
subject's largest regional loads with their intervals.

Slices are drawn with matplotlib alone: cropped to the brain, true voxel aspect, left of
the brain on the left (RAS), on the slices where the lesions are.

Apart from :mod:`wmhmap.qc` (the registration QC, which the propagation jobs run), so
that a change to these figures reruns the figures alone (:mod:`wmhmap.codeversion`
tracks modules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from wmhmap.geometry import reorient_to_ras, voxel_sizes
from wmhmap.qc import _label_colours, _slices, display_max

N_LABELS = 36
"""Colours of the region overlay (the 34 regions and the two outside labels)."""


@dataclass(frozen=True)
class SliceView:
    """A scan ready for axial slices: RAS data, the in-plane box around the brain, the
    displayed aspect (y / x voxel size) and the grey level shown as white."""

    data: npt.NDArray[np.float32]
    box: tuple[slice, slice]
    aspect: float
    vmax: float

    @property
    def height_per_width(self) -> float:
        """Height of one displayed slice per its width."""
        shape = self.data[self.box[0], self.box[1], 0].shape
        return shape[1] * self.aspect / max(shape[0], 1)


def slice_view(image: nib.Nifti1Image) -> SliceView:
    """Reorient ``image`` to RAS and crop the slices to its non-zero voxels (+ 2)."""
    ras = reorient_to_ras(image)
    data = np.asarray(ras.dataobj, dtype=np.float32)
    brain = data > 0
    xs, ys = np.flatnonzero(brain.any(axis=(1, 2))), np.flatnonzero(brain.any(axis=(0, 2)))
    box = (
        (slice(max(xs[0] - 2, 0), xs[-1] + 3), slice(max(ys[0] - 2, 0), ys[-1] + 3))
        if xs.size
        else (slice(None), slice(None))
    )
    sx, sy, _ = voxel_sizes(ras)
    return SliceView(data, box, sy / sx, display_max(data, brain))


def ras_array(image: nib.Nifti1Image) -> npt.NDArray[Any]:
    return np.asarray(reorient_to_ras(image).dataobj)


def draw_slice(
    ax: Axes, view: SliceView, k: int, overlay: npt.NDArray[Any] | None, kind: str
) -> None:
    """Axial slice ``k`` of ``view`` with ``overlay`` (RAS, same grid) on it: lesions in
    red, or regions in colours; no ticks, no frame."""
    box = view.box
    ax.imshow(
        view.data[box[0], box[1], k].T,
        cmap="gray",
        vmin=0,
        vmax=view.vmax,
        origin="lower",
        aspect=view.aspect,
    )
    if overlay is not None:
        shown = overlay[box[0], box[1], k].T
        lesions = kind == "lesions"
        ax.imshow(
            np.ma.masked_equal((shown > 0).astype(np.uint8) if lesions else shown, 0),
            cmap=ListedColormap(["red"]) if lesions else _label_colours(N_LABELS),
            alpha=0.8 if lesions else 0.55,
            origin="lower",
            aspect=view.aspect,
            interpolation="nearest",
            vmin=0 if lesions else 1,
            vmax=1 if lesions else N_LABELS,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def axial_cuts(
    lesions: npt.NDArray[np.bool_], fallback: npt.NDArray[np.bool_], cuts: int
) -> list[int]:
    """The ``cuts`` axial slices (ascending) where the lesions are: the slices with the
    most lesion voxels, at least a ``1 / (2 cuts)`` of the lesion extent apart so that
    they do not repeat one lesion; evenly through ``fallback`` without lesions.

    >>> mask = np.zeros((4, 4, 20), bool)
    >>> mask[1, 1, [3, 4, 5, 12]] = True; mask[:, :, 4] = True
    >>> axial_cuts(mask, mask, 2)
    [4, 12]
    """
    per_slice = lesions.sum(axis=(0, 1))
    if not per_slice.any():
        return _slices(fallback, 2, cuts)
    candidates = np.flatnonzero(per_slice)
    gap = max(1, int((candidates[-1] - candidates[0]) / (2 * cuts)))
    chosen: list[int] = []
    for k in candidates[np.argsort(-per_slice[candidates], kind="stable")]:
        if all(abs(int(k) - c) >= gap for c in chosen):
            chosen.append(int(k))
        if len(chosen) == cuts:
            break
    return sorted(chosen)


def lesion_region_overlay(
    images: dict[str, nib.Nifti1Image],
    lesions: nib.Nifti1Image,
    regions: nib.Nifti1Image,
    *,
    title: str = "",
    cuts: int = 6,
    loads: pd.DataFrame | None = None,
) -> Figure:
    """Lesions (red) and the regions (colours) over each image, axial slices.

    Two rows per image (``images`` maps a name such as ``FLAIR`` to an image on the
    lesions' grid): its lesions, then the same slices with the regions; the slices are
    where the lesions are (:func:`axial_cuts`), so the figure shows where the load is.
    With ``loads`` (:func:`top_regional_loads`) a last row draws the subject's largest
    regional loads with their intervals.
    """
    lesion_data = ras_array(lesions) > 0
    region_data = ras_array(regions).astype(np.int32)
    views = {name: slice_view(image) for name, image in images.items()}
    first = next(iter(views.values()))
    ks = axial_cuts(lesion_data, first.data > 0, cuts)
    ks += [ks[-1]] * (cuts - len(ks))
    width = 1.6
    rows = [(name, kind) for name in views for kind in ("lesions", "regions")]
    heights = [width * max(v.height_per_width for v in views.values())] * len(rows)
    bars = loads is not None and len(loads) > 0
    if bars and loads is not None:
        heights.append(0.35 + 0.2 * len(loads))
    fig = Figure(
        figsize=(width * cuts + 0.6, sum(heights) + 0.5),
        layout=ConstrainedLayoutEngine(w_pad=0.02, h_pad=0.02, wspace=0.0, hspace=0.0),
    )
    grid = fig.add_gridspec(len(heights), cuts, height_ratios=heights)
    for r, (name, kind) in enumerate(rows):
        for c, k in enumerate(ks):
            ax = fig.add_subplot(grid[r, c])
            draw_slice(ax, views[name], k, lesion_data if kind == "lesions" else region_data, kind)
            if c == 0:
                ax.set_title(f"{name}: {kind}", fontsize=8, loc="left")
    if bars and loads is not None:
        ax = fig.add_subplot(grid[len(rows), :])
        load_bars(ax, loads)
        ax.set_title("largest regional loads", fontsize=8, loc="left")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


INTERVAL_LABEL = "calibrated interval"


def top_regional_loads(long: pd.DataFrame, subject: str, n: int = 6) -> pd.DataFrame:
    """A subject's ``n`` largest regional loads (34 regions; those with lesions) from a
    long loads table, in mL, with their calibrated interval (:mod:`wmhmap.intervals`)
    as ``low_ml`` / ``high_ml`` when the table has it, else the folds' range;
    ``attrs["interval"]`` says which.

    >>> long = pd.DataFrame({"subject": "a", "scheme": "jhu34", "region_id": [1, 2, 0],
    ...     "region_name": ["x", "y", "outside regions"], "hemisphere": ["left", "right", "none"],
    ...     "lesion_mm3": [500.0, 1500.0, 9000.0], "fold_min_mm3": [0.0, 1000.0, 0.0],
    ...     "fold_max_mm3": [900.0, 2000.0, 0.0]})
    >>> top = top_regional_loads(long, "a")
    >>> top.to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'region': ['R y', 'L x'], 'load_ml': [1.5, 0.5], 'low_ml': [1.0, 0.0],
     'high_ml': [2.0, 0.9]}
    >>> top.attrs["interval"]
    "folds' range"
    """
    rows = long[
        (long["subject"].astype(str) == subject)
        & (long["region_id"] != 0)
        & (long["lesion_mm3"] > 0)
    ]
    if "scheme" in rows.columns:
        rows = rows[rows["scheme"] == "jhu34"]
    rows = rows.sort_values("lesion_mm3", ascending=False, kind="stable").head(n)
    out = pd.DataFrame(
        {
            "region": [
                f"{h[0].upper()} {name}"
                for h, name in zip(rows["hemisphere"], rows["region_name"], strict=True)
            ],
            "load_ml": rows["lesion_mm3"].to_numpy(dtype=float) / 1000,
        }
    )
    for low, high, name in (
        ("interval_low_mm3", "interval_high_mm3", f"{INTERVAL_LABEL}"),
        ("fold_min_mm3", "fold_max_mm3", "folds' range"),
    ):
        if {low, high} <= set(rows.columns) and rows[[low, high]].notna().all(axis=None):
            out["low_ml"] = rows[low].to_numpy(dtype=float) / 1000
            out["high_ml"] = rows[high].to_numpy(dtype=float) / 1000
            out.attrs["interval"] = name
            break
    return out


def load_bars(ax: Axes, loads: pd.DataFrame) -> None:
    """A subject's largest regional loads (:func:`top_regional_loads`) as bars, with
    their interval as error bars."""
    y = np.arange(len(loads))[::-1]
    error = None
    if {"low_ml", "high_ml"} <= set(loads.columns):
        error = np.vstack(
            [
                np.clip(loads["load_ml"] - loads["low_ml"], 0, None),
                np.clip(loads["high_ml"] - loads["load_ml"], 0, None),
            ]
        )
    ax.barh(y, loads["load_ml"], xerr=error, color="#c0392b", alpha=0.8, capsize=2)
    ax.set_yticks(y, loads["region"], fontsize=6)
    ax.tick_params(axis="x", labelsize=6)
    interval = loads.attrs.get("interval")
    label = f"WMH, mL (error bars: {interval})" if error is not None else "WMH, mL"
    ax.set_xlabel(label, fontsize=6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
