"""The study's Figure 3: lesions and regions of the subjects with the highest loads.

Its own module, apart from the registration QC (:mod:`wmhmap.qc`), so that a change to
the figure reruns the figure alone (:mod:`wmhmap.codeversion` tracks modules).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from wmhmap.geometry import reorient_to_ras, voxel_sizes
from wmhmap.qc import _label_colours, _slices, display_max


@dataclass(frozen=True)
class HighLoadSubject:
    """One row pair of the high-load panel: a subject's FLAIR, lesions and regions (all
    on one grid) and its global load."""

    subject: str
    flair: nib.Nifti1Image
    lesions: nib.Nifti1Image
    regions: nib.Nifti1Image
    load_ml: float
    loads: pd.DataFrame | None = None
    """The subject's largest regional loads: ``region`` (label), ``load_ml`` and, with
    the per-fold uncertainty, ``low_ml`` / ``high_ml`` (the folds' range), drawn as
    bars with error bars beside the slices."""


def top_regional_loads(long: pd.DataFrame, subject: str, n: int = 6) -> pd.DataFrame:
    """A subject's ``n`` largest regional loads (34 regions) from a long loads table, in
    mL, with the folds' range when the table has it.

    >>> long = pd.DataFrame({"subject": "a", "scheme": "jhu34", "region_id": [1, 2, 0],
    ...     "region_name": ["x", "y", "outside regions"], "hemisphere": ["left", "right", "none"],
    ...     "lesion_mm3": [500.0, 1500.0, 9000.0], "fold_min_mm3": [0.0, 1000.0, 0.0],
    ...     "fold_max_mm3": [900.0, 2000.0, 0.0]})
    >>> top_regional_loads(long, "a").to_dict("list")
    {'region': ['R y', 'L x'], 'load_ml': [1.5, 0.5], 'low_ml': [1.0, 0.0], 'high_ml': [2.0, 0.9]}
    """
    rows = long[(long["subject"].astype(str) == subject) & (long["region_id"] != 0)]
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
    if {"fold_min_mm3", "fold_max_mm3"} <= set(rows.columns):
        out["low_ml"] = rows["fold_min_mm3"].to_numpy(dtype=float) / 1000
        out["high_ml"] = rows["fold_max_mm3"].to_numpy(dtype=float) / 1000
    return out


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


def high_load_panel(subjects: list[HighLoadSubject], *, cuts: int = 5) -> Figure:
    """The study's Figure 3: for each high-load subject, its FLAIR with the lesions (red)
    and the same axial slices with the region map, slices where the lesions are.

    Two rows per subject, one column per slice, cropped to the brain, true voxel aspect,
    left of the brain on the left (RAS); the constrained layout keeps row labels clear
    of the images.
    """
    if not subjects:
        fig = Figure(figsize=(4, 1))
        fig.text(0.5, 0.5, "no subject with FLAIR", ha="center", va="center")
        return fig
    prepared = []
    for item in subjects:
        flair = reorient_to_ras(item.flair)
        data = np.asarray(flair.dataobj, dtype=np.float32)
        lesions = np.asarray(reorient_to_ras(item.lesions).dataobj) > 0
        regions = np.asarray(reorient_to_ras(item.regions).dataobj).astype(np.int32)
        brain = data > 0
        xs, ys = np.flatnonzero(brain.any(axis=(1, 2))), np.flatnonzero(brain.any(axis=(0, 2)))
        box = (
            (slice(max(xs[0] - 2, 0), xs[-1] + 3), slice(max(ys[0] - 2, 0), ys[-1] + 3))
            if xs.size
            else (slice(None), slice(None))
        )
        sx, sy, _ = voxel_sizes(flair)
        prepared.append((item, data, lesions, regions, box, sy / sx, display_max(data, brain)))
    # panel height per width, from the largest cropped field of view
    ratio = max(
        d[box[0], box[1]].shape[1] * aspect / max(d[box[0], box[1]].shape[0], 1)
        for _, d, _, _, box, aspect, _ in prepared
    )
    width = 1.5
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    bars = any(item.loads is not None and len(item.loads) for item in subjects)
    extra = 2.2 if bars else 0.0
    fig = Figure(
        figsize=(width * cuts + 0.9 + extra, (width * ratio) * 2 * len(prepared) + 0.4),
        layout=ConstrainedLayoutEngine(w_pad=0.01, h_pad=0.01, wspace=0.0, hspace=0.0),
    )
    grid = fig.add_gridspec(
        2 * len(prepared),
        cuts + (1 if bars else 0),
        width_ratios=[width] * cuts + ([extra] if bars else []),
    )
    axes = np.array(
        [[fig.add_subplot(grid[r, c]) for c in range(cuts)] for r in range(2 * len(prepared))]
    )
    n_labels = 36
    cmap = _label_colours(n_labels)
    for row, (item, data, lesions, regions, box, aspect, vmax) in enumerate(prepared):
        ks = axial_cuts(lesions, data > 0, cuts)
        ks += [ks[-1]] * (cuts - len(ks))
        for col, k in enumerate(ks):
            for offset, overlay in enumerate(("lesions", "regions")):
                ax = axes[2 * row + offset, col]
                background = data[box[0], box[1], k].T
                ax.imshow(background, cmap="gray", vmin=0, vmax=vmax, origin="lower", aspect=aspect)
                if overlay == "lesions":
                    shown = np.ma.masked_equal(lesions[box[0], box[1], k].T.astype(np.uint8), 0)
                    ax.imshow(
                        shown,
                        cmap=ListedColormap(["red"]),
                        alpha=0.8,
                        origin="lower",
                        aspect=aspect,
                        interpolation="nearest",
                        vmin=0,
                        vmax=1,
                    )
                else:
                    shown = np.ma.masked_equal(regions[box[0], box[1], k].T, 0)
                    ax.imshow(
                        shown,
                        cmap=cmap,
                        alpha=0.55,
                        origin="lower",
                        aspect=aspect,
                        interpolation="nearest",
                        vmin=1,
                        vmax=n_labels,
                    )
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if col == 0:
                    label = (
                        f"sub-{item.subject}\n{item.load_ml:.1f} mL\nlesions"
                        if overlay == "lesions"
                        else "regions"
                    )
                    ax.set_ylabel(label, fontsize=8)
        if bars and item.loads is not None and len(item.loads):
            _load_bars(fig.add_subplot(grid[2 * row : 2 * row + 2, cuts]), item.loads)
    fig.suptitle("Highest WMH loads: FLAIR with lesions (red) and regions", fontsize=9)
    return fig


def _load_bars(ax, loads: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """The subject's largest regional loads, with the folds' range as error bars."""
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
    ax.set_xlabel("mL (bars: folds' range)", fontsize=6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
