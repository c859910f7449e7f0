"""Group lesion-frequency maps in the atlas (template) space.

Every subject's WMH mask is carried from its analysis grid into the atlas space with
the inverse of its atlas transform (the propagation's affine, stored as
``xfm/sub-*_from-atlas_to-<grid>_mode-image_xfm.mat``), by linear interpolation, so a
thick-slice voxel spreads over the template voxels it covers. A group's frequency map
is the mean of its members' maps: at each template voxel, the share of the group whose
lesions cover it (0-1). Groups are diagnoses and clusters (``stats.cluster_k``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure

from wmhmap.errors import InputError
from wmhmap.imageio import like
from wmhmap.preprocess import LinearTransform, apply_linear
from wmhmap.regions import RegionTable

FloatArray = npt.NDArray[np.float32]


def to_template(
    mask: nib.Nifti1Image, template: nib.Nifti1Image, atlas_to_grid: LinearTransform
) -> FloatArray:
    """A subject's lesion mask on the template grid (share of each template voxel that
    the lesions cover, 0-1). ``atlas_to_grid`` maps grid points to atlas points (the
    stored atlas transform); its inverse carries the grid's image into the atlas."""
    binary = like((np.asarray(mask.dataobj) > 0).astype(np.float32), mask, np.float32)
    carried = apply_linear(binary, template, [atlas_to_grid.inverse()], interpolation="linear")
    return np.clip(np.asarray(carried.dataobj, dtype=np.float32), 0.0, 1.0)


@dataclass
class FrequencyMaps:
    """Running sums of subjects' template-space masks, by group."""

    shape: tuple[int, ...]
    sums: dict[str, npt.NDArray[np.float64]]
    counts: dict[str, int]

    @classmethod
    def empty(cls, shape: Sequence[int]) -> FrequencyMaps:
        return cls(tuple(shape), {}, {})

    def add(self, carried: FloatArray, groups: Iterable[str]) -> None:
        """Count one subject's template-space mask in each of its ``groups``."""
        if carried.shape != self.shape:
            raise InputError(
                f"mask on the template grid has shape {carried.shape}, expected {self.shape}",
                fix="carry every mask onto the same template",
            )
        for group in groups:
            if group not in self.sums:
                self.sums[group] = np.zeros(self.shape, dtype=np.float64)
                self.counts[group] = 0
            self.sums[group] += carried
            self.counts[group] += 1

    def frequency(self, group: str) -> FloatArray:
        """The group's mean: the share of its subjects with a lesion at each voxel.

        >>> maps = FrequencyMaps.empty((1, 1, 2))
        >>> maps.add(np.array([[[1.0, 0.0]]], np.float32), ["AD"])
        >>> maps.add(np.array([[[1.0, 0.5]]], np.float32), ["AD", "CN"])
        >>> maps.frequency("AD").ravel().tolist(), maps.counts
        ([1.0, 0.25], {'AD': 2, 'CN': 1})
        """
        return (self.sums[group] / self.counts[group]).astype(np.float32)


def region_frequency(
    maps: FrequencyMaps, labels: npt.ArrayLike, table: RegionTable
) -> pd.DataFrame:
    """Mean lesion frequency per group and atlas region (long table: ``group, n,
    region_id, region, mean_frequency, peak_frequency``), the whole-map peak per group
    as ``region_id = 0`` rows (``region``: the region holding the peak voxel)."""
    lab = np.asarray(labels).astype(np.int64)
    rows = []
    for group in sorted(maps.sums):
        freq = maps.frequency(group)
        peak = np.unravel_index(int(np.argmax(freq)), freq.shape)
        peak_region = int(lab[peak])
        holder = table.by_id(peak_region).label if peak_region in table.ids else "outside"
        rows.append(
            {
                "group": group,
                "n": maps.counts[group],
                "region_id": 0,
                "region": f"peak ({holder})",
                "mean_frequency": float(freq.mean()),
                "peak_frequency": float(freq[peak]),
            }
        )
        sums = np.bincount(lab.ravel(), weights=freq.ravel(), minlength=table.max_id + 1)
        sizes = np.bincount(lab.ravel(), minlength=table.max_id + 1)
        for region in table:
            inside = freq[lab == region.region_id] if sizes[region.region_id] else np.zeros(1)
            rows.append(
                {
                    "group": group,
                    "n": maps.counts[group],
                    "region_id": region.region_id,
                    "region": region.label,
                    "mean_frequency": float(
                        sums[region.region_id] / max(sizes[region.region_id], 1)
                    ),
                    "peak_frequency": float(inside.max()),
                }
            )
    return pd.DataFrame(rows)


def frequency_figure(
    maps: FrequencyMaps,
    template: nib.Nifti1Image,
    groups: Sequence[str],
    n_slices: int = 6,
) -> Figure:
    """One row per group: axial slices of the template with the group's lesion
    frequency in colour (slices spread over where any group has lesions)."""
    if not groups:
        raise InputError("no group to draw", fix="give at least one group with subjects")
    t1 = np.asarray(template.dataobj, dtype=np.float32)
    union = np.max([maps.frequency(g) for g in groups], axis=0)
    rows = np.flatnonzero(union.max(axis=(0, 1)) > 0.05)
    if rows.size == 0:
        rows = np.arange(t1.shape[2])
    picks = np.unique(np.linspace(rows[0], rows[-1], n_slices + 2).round().astype(int)[1:-1])
    vmax = max(float(union.max()), 1e-6)
    fig = Figure(figsize=(1.9 * len(picks) + 0.8, 2.1 * len(groups)), layout="constrained")
    axes = fig.subplots(len(groups), len(picks), squeeze=False)
    image = None
    grey = float(np.percentile(t1[t1 > 0], 99)) if (t1 > 0).any() else 1.0
    for r, group in enumerate(groups):
        freq = maps.frequency(group)
        for c, k in enumerate(picks):
            ax = axes[r, c]
            ax.imshow(t1[:, :, k].T, cmap="gray", origin="lower", vmin=0, vmax=grey)
            shown = np.ma.masked_less(freq[:, :, k].T, 0.02)
            image = ax.imshow(shown, cmap="hot", origin="lower", vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"{group} (n = {maps.counts[group]})", fontsize=8)
            if r == 0:
                ax.set_title(f"z = {k}", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.7, label="lesion frequency")
    return fig


def group_members(
    subjects: Sequence[str],
    diagnoses: Mapping[str, str],
    clusters: Mapping[str, int] | None = None,
) -> dict[str, list[str]]:
    """Each subject's groups: ``diagnosis-<DX>`` and ``cluster-<k>`` (when clustered).

    >>> group_members(["a", "b"], {"a": "AD", "b": "cn"}, {"a": 1})
    {'a': ['diagnosis-AD', 'cluster-1'], 'b': ['diagnosis-CN']}
    """
    out: dict[str, list[str]] = {}
    for s in subjects:
        groups = []
        dx = diagnoses.get(s)
        if dx is not None and str(dx).strip() and str(dx).lower() != "nan":
            groups.append(f"diagnosis-{str(dx).strip().upper()}")
        if clusters is not None and s in clusters:
            groups.append(f"cluster-{int(clusters[s])}")
        out[s] = groups
    return out
