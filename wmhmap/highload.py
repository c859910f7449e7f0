"""The study's Figure 3: lesions and regions of the subjects with the highest loads.

Its own module, apart from the registration QC (:mod:`wmhmap.qc`), so that a change to
the figure reruns the figure alone (:mod:`wmhmap.codeversion` tracks modules).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from wmhmap.overlays import axial_cuts, draw_slice, load_bars, ras_array, slice_view


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
    """The subject's largest regional loads (:func:`~wmhmap.overlays.top_regional_loads`),
    drawn as bars with their intervals beside the slices."""


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
    prepared = [
        (item, slice_view(item.flair), ras_array(item.lesions) > 0, ras_array(item.regions))
        for item in subjects
    ]
    # panel height per width, from the largest cropped field of view
    ratio = max(view.height_per_width for _, view, _, _ in prepared)
    width = 1.5
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
    for row, (item, view, lesions, regions) in enumerate(prepared):
        ks = axial_cuts(lesions, view.data > 0, cuts)
        ks += [ks[-1]] * (cuts - len(ks))
        for offset, kind in enumerate(("lesions", "regions")):
            for col, k in enumerate(ks):
                ax = fig.add_subplot(grid[2 * row + offset, col])
                draw_slice(ax, view, k, lesions if kind == "lesions" else regions, kind)
                if col == 0:
                    label = (
                        f"sub-{item.subject}\n{item.load_ml:.1f} mL\nlesions"
                        if kind == "lesions"
                        else "regions"
                    )
                    ax.set_ylabel(label, fontsize=8)
        if bars and item.loads is not None and len(item.loads):
            load_bars(fig.add_subplot(grid[2 * row : 2 * row + 2, cuts]), item.loads)
    fig.suptitle("Highest WMH loads: FLAIR with lesions (red) and regions", fontsize=9)
    return fig
