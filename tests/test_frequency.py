"""Group lesion-frequency maps in the atlas space (wmhmap.frequency)."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from wmhmap.frequency import FrequencyMaps, frequency_figure, region_frequency, to_template
from wmhmap.preprocess import LinearTransform
from wmhmap.regions import Region, RegionTable


def test_a_lesion_lands_where_the_inverse_atlas_transform_puts_it():
    """A 4 x 4 x 2-voxel lesion on a 2 x 2 x 4 mm grid, and an atlas transform that
    shifts grid points by (+10, -6, +8) mm into the atlas: in the 1 mm template the
    lesion keeps its volume and its centre moves by that shift."""
    template = nib.Nifti1Image(np.zeros((60, 60, 60), np.float32), np.eye(4))
    grid_affine = np.diag([2.0, 2.0, 4.0, 1.0])
    mask = np.zeros((30, 30, 15), np.uint8)
    mask[10:14, 12:16, 5:7] = 1
    lesion = nib.Nifti1Image(mask, grid_affine)
    shift = np.eye(4)
    shift[:3, 3] = (10.0, -6.0, 8.0)
    carried = to_template(lesion, template, LinearTransform(shift))
    assert carried.max() <= 1.0
    assert np.isclose(carried.sum(), mask.sum() * 16.0, rtol=0.02)  # 16 mm3 per grid voxel
    centre_grid = nib.affines.apply_affine(grid_affine, np.argwhere(mask).mean(axis=0))
    centre = np.average(np.argwhere(carried > 0), axis=0, weights=carried[carried > 0])
    assert np.allclose(centre, centre_grid + np.array([10.0, -6.0, 8.0]), atol=0.3)


def test_group_maps_average_subjects_and_name_the_regions_they_peak_in():
    labels = np.zeros((1, 2, 4), np.uint8)
    labels[0, 0] = [1, 1, 2, 2]
    table = RegionTable((Region(1, "left", "a", ()), Region(2, "right", "b", ())))
    maps = FrequencyMaps.empty(labels.shape)
    ad = np.zeros(labels.shape, np.float32)
    ad[0, 0, 2] = 1.0
    maps.add(ad, ["diagnosis-AD"])
    maps.add(np.zeros(labels.shape, np.float32), ["diagnosis-AD", "diagnosis-CN"])
    table_out = region_frequency(maps, labels, table).set_index(["group", "region_id"])
    assert table_out.loc[("diagnosis-AD", 2), "mean_frequency"] == 0.25
    assert table_out.loc[("diagnosis-AD", 2), "peak_frequency"] == 0.5
    assert table_out.loc[("diagnosis-AD", 0), "region"] == "peak (R b)"
    assert table_out.loc[("diagnosis-CN", 1), "n"] == 1
    fig = frequency_figure(
        maps, nib.Nifti1Image(np.ones(labels.shape), np.eye(4)), ["diagnosis-AD"]
    )
    assert len(fig.axes) >= 2
