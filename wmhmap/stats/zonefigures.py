"""Cohort figures of the zone schemes: bullseye plots and periventricular / deep loads.

The bullseye plot (Sudre et al. 2018) draws the 36 zones as a target: nine sectors
(left lobes on the left half, right lobes on the right, the basal ganglia and thalamus
at the bottom) times four rings, shell 1 (next to the ventricles) innermost. Each zone
is coloured by the group's mean lesion load there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from wmhmap.errors import InputError
from wmhmap.stats import require_columns, with_diagnosis, with_subject_ids
from wmhmap.stats.agreement import MM3_PER_ML
from wmhmap.zones import LOBES, SHELLS

SECTORS = [f"L {lobe}" for lobe in LOBES] + [f"R {lobe}" for lobe in LOBES] + ["BG/thalamus"]
"""The bullseye's sectors in zone order (zone id = sector * 4 + shell)."""
_PLACES = (2, 1, 0, 3, 6, 7, 8, 5, 4)
"""Where each sector sits, counted anticlockwise from the top (left lobes on the left)."""


def bullseye_matrix(wide: pd.DataFrame) -> np.ndarray:
    """Mean load (mL) per shell x sector of a bullseye wide table (4 x 9)."""
    columns = [f"bullseye_{i:02d}" for i in range(1, SHELLS * len(SECTORS) + 1)]
    require_columns(wide, columns, table_name="bullseye wide loads table")
    means = wide[columns].astype(float).mean(axis=0).to_numpy() / MM3_PER_ML
    return means.reshape(len(SECTORS), SHELLS).T


def plot_zone_loads(
    pvdeep: pd.DataFrame | None,
    bullseye: pd.DataFrame | None,
    meta: pd.DataFrame,
    pvdeep_names: Sequence[str] = (),
) -> Figure:
    """Per diagnosis: a bullseye plot of mean zone loads, and the periventricular / deep
    loads (mean and SD, mL; zones named by ``pvdeep_names``). Either table may be None
    (its scheme is not computed). A cohort without diagnoses draws one group."""
    if pvdeep is None and bullseye is None:
        raise InputError("no zone loads to plot", fix="compute a zone scheme (zones.schemes)")
    sheet = with_subject_ids(with_diagnosis(meta), table_name="sample sheet")
    sheet = sheet[["subject", "diagnosis"]]
    # subjects without a diagnosis form one group: all of them when the cohort has none
    unknown = "all subjects" if sheet["diagnosis"].isna().all() else "no diagnosis"
    sheet["diagnosis"] = sheet["diagnosis"].astype("string").str.strip().str.upper()
    sheet["diagnosis"] = sheet["diagnosis"].fillna(unknown).astype(str)
    order = [g for g in ("CN", "MCI", "AD") if g in set(sheet.diagnosis)]
    order += sorted(set(sheet.diagnosis) - set(order))
    tables = {
        name: with_subject_ids(t, table_name=f"{name} wide table").merge(sheet, on="subject")
        for name, t in (("pvdeep", pvdeep), ("bullseye", bullseye))
        if t is not None
    }
    groups = [g for g in order if any((t.diagnosis == g).any() for t in tables.values())]
    n_cols = len(groups) + (1 if "pvdeep" in tables else 0)
    fig = Figure(figsize=(3.6 * n_cols, 3.9), layout="constrained")
    if "bullseye" in tables:
        table = tables["bullseye"]
        matrices = [bullseye_matrix(table[table.diagnosis == g]) for g in groups]
        vmax = max(float(np.nanmax(m)) for m in matrices) or 1.0
        cmap, norm = _colours(), Normalize(0, vmax)
        width = 2 * np.pi / len(SECTORS)
        for k, (group, matrix) in enumerate(zip(groups, matrices, strict=True)):
            ax = fig.add_subplot(1, n_cols, k + 1, projection="polar")
            theta = np.array([np.pi / 2 + (p + 0.5) * width for p in _PLACES])
            for sector in range(len(SECTORS)):
                for shell in range(SHELLS):
                    ax.bar(
                        theta[sector],
                        1.0,
                        width=width,
                        bottom=shell,
                        color=cmap(norm(matrix[shell, sector])),
                        edgecolor="white",
                        linewidth=0.8,
                    )
            for sector, name in enumerate(SECTORS):
                ax.text(theta[sector], SHELLS + 0.75, name, ha="center", va="center", fontsize=6.5)
            ax.set_ylim(0, SHELLS + 1.2)
            ax.set_axis_off()
            n = int((table.diagnosis == group).sum())
            ax.set_title(f"{group} (n = {n})", fontsize=9)
        fig.colorbar(
            ScalarMappable(norm=norm, cmap=cmap),
            ax=fig.axes,
            shrink=0.6,
            label="mean lesion load (mL)",
        )
    if "pvdeep" in tables:
        table = tables["pvdeep"]
        zones = [c for c in table.columns if c.startswith("pvdeep_")]
        ax = fig.add_subplot(1, n_cols, n_cols)
        names = list(pvdeep_names) or [f"zone {i}" for i in range(1, len(zones) + 1)]
        step = 0.8 / max(len(groups), 1)
        for k, group in enumerate(groups):
            rows = table[table.diagnosis == group][zones].astype(float) / MM3_PER_ML
            ax.bar(
                np.arange(len(zones)) + k * step,
                rows.mean(axis=0),
                width=step,
                yerr=rows.std(axis=0, ddof=1) if len(rows) > 1 else None,
                label=group,
                capsize=2,
            )
        ax.set_xticks(np.arange(len(zones)) + 0.4 - step / 2, names, rotation=30, fontsize=7)
        ax.set_ylabel("lesion load (mL), mean and SD")
        ax.set_title("periventricular / deep", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    return fig


def _colours():  # type: ignore[no-untyped-def]
    """The loads' colour map: magma reversed, without its near-black end."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps["magma_r"](np.linspace(0, 0.9, 256)))
