"""Zone schemes (wmhmap.zones) on phantoms whose geometry is known analytically."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from wmhmap.errors import InputError
from wmhmap.loads import zone_loads
from wmhmap.regions import Region, RegionTable
from wmhmap.zoneprior import DEEP_GREY, INFRATENTORIAL, VENTRICLES
from wmhmap.zones import (
    VENTRICLE_MARGIN_MM,
    BullseyeSettings,
    PvDeepSettings,
    apply_continuity,
    bullseye_map,
    bullseye_table,
    distance_mm,
    lobe_map,
    normalised_depth,
    pvdeep_map,
    segment_ventricles,
    zone_maps,
)

LOBES = {"frontal": (1,), "parietal": (2,), "temporal": (3,), "occipital": (4,)}


def slab_phantom(spacing=(1.0, 1.0, 2.5), n=40):
    """Ventricle at k < 4, white matter 4 <= k < 24, cortex from k = 24 (along z)."""
    shape = (6, 6, n)
    k = np.broadcast_to(np.arange(n), shape)
    return k, k < 4, (k >= 4) & (k < 24), k >= 24, spacing


def test_pvdeep_on_a_slab_matches_the_analytic_distances_voxel_for_voxel():
    k, ventricles, wm, cortex, spacing = slab_phantom()
    # distance from slice k to the last ventricle slice (3), in mm along z
    d_v = (k - 3) * spacing[2]
    d_c = (24 - k) * spacing[2]
    none = np.zeros_like(wm)
    for settings, expected in [
        (PvDeepSettings(), np.where(d_v <= 10, 1, 2)),
        (PvDeepSettings(bands_mm=(3, 13)), np.where(d_v <= 3, 1, np.where(d_v <= 13, 2, 3))),
        (
            PvDeepSettings(juxtacortical_mm=5),
            np.where(d_v <= 10, 1, np.where(d_c <= 5, 3, 2)),
        ),
    ]:
        zones = pvdeep_map(wm, ventricles, cortex, none, spacing, settings)
        assert np.array_equal(zones, np.where(wm, expected, 0))
    # on this slab: zones at 2.5 mm spacing, cut at 10 mm = 4 slices of white matter
    zones = pvdeep_map(wm, ventricles, cortex, none, spacing)
    assert (zones[0, 0] == 1).sum() == 4 and (zones[0, 0] == 2).sum() == 16


def test_bullseye_shells_on_a_slab_are_equidistant_in_normalised_depth():
    k, ventricles, wm, cortex, spacing = slab_phantom()
    depth = normalised_depth(ventricles, cortex, spacing)
    expected_depth = (k - 3) / ((k - 3) + (24 - k))  # d_v / (d_v + d_c) = (k-3) / 21
    assert np.allclose(depth[wm], expected_depth[wm])
    lobes = np.where(wm, 1, 0)
    zones = bullseye_map(lobes, np.zeros_like(wm), depth, wm)
    shell = np.minimum(np.floor(expected_depth * 4), 3) + 1
    assert np.array_equal(zones, np.where(wm, shell, 0))
    assert set(np.unique(zones[wm])) == {1, 2, 3, 4}


def sphere_phantom(radius_v=8.0, radius_c=32.0, spacing=1.0):
    n = int(2 * radius_c + 9)
    c = (n - 1) / 2
    ijk = np.indices((n, n, n), dtype=float) - c
    r = np.sqrt((ijk**2).sum(axis=0)) * spacing
    return r, r <= radius_v, (r > radius_v) & (r < radius_c), r >= radius_c


def test_pvdeep_and_bullseye_on_a_sphere_match_the_analytic_zones():
    """A spherical ventricle (r <= 8 mm) inside a shell cortex (r >= 32 mm).

    The analytic distance to the ventricle is r - 8 and to the cortex 32 - r. Distances
    between voxel centres exceed them by less than the voxel diagonal's half (the
    sphere's surface runs between voxel centres), so every voxel farther than that
    from a cut is in its analytic zone, and the rest are in one of the two zones the
    cut separates.
    """
    r, ventricles, wm, cortex = sphere_phantom()
    slack = np.sqrt(3) / 2
    none = np.zeros_like(wm)
    zones = pvdeep_map(wm, ventricles, cortex, none, (1.0, 1.0, 1.0))
    d_v = r - 8
    sure = wm & (np.abs(d_v - 10) > slack)
    assert np.array_equal(zones[sure], np.where(d_v[sure] <= 10, 1, 2))
    assert set(np.unique(zones[wm & ~sure])) <= {1, 2}
    assert (wm & ~sure).sum() < 0.1 * wm.sum()

    depth = normalised_depth(ventricles, cortex, (1.0, 1.0, 1.0))
    analytic = (r - 8) / 24
    shells = bullseye_map(np.where(wm, 1, 0), none, depth, wm)
    cut_distance = np.min([np.abs(r - 8 - 6 * q) for q in (1, 2, 3)], axis=0)
    sure = wm & (cut_distance > 2 * slack)
    assert np.array_equal(shells[sure], (np.minimum(np.floor(analytic * 4), 3) + 1)[sure])
    assert np.all(np.abs(depth[wm] - analytic[wm]) <= slack / 24 * 2 + 1e-9)


def test_distances_respect_anisotropic_voxels():
    mask = np.zeros((5, 5, 5), bool)
    mask[2, 2, 2] = True
    d = distance_mm(mask, (0.5, 1.0, 3.0))
    assert d[4, 2, 2] == 1.0 and d[2, 4, 2] == 2.0 and d[2, 2, 4] == 6.0
    assert np.isclose(d[4, 4, 4], np.sqrt(1 + 4 + 36))
    assert np.isinf(distance_mm(np.zeros((2, 2, 2)), (1, 1, 1))).all()


def test_continuity_gives_a_lesion_touching_the_band_to_the_band_as_a_whole():
    s = PvDeepSettings(bands_mm=(3, 13), continuity=True)
    zones = np.array([[[1, 2, 2, 3, 3, 3, 3, 3]]], np.uint8)
    lesions = np.array([[[0, 0, 1, 1, 1, 0, 1, 1]]])
    out = apply_continuity(zones, lesions, s)
    # the first lesion touches band 2 (periventricular): all of it is band 2; the
    # second lies in deep white matter only and keeps its voxels' zones
    assert out.ravel().tolist() == [1, 2, 2, 2, 2, 3, 3, 3]


def test_lobes_come_from_the_nearest_seed_parcel_in_its_hemisphere():
    table = RegionTable(
        (
            Region(1, "left", "f", ()),
            Region(2, "left", "p", ()),
            Region(3, "left", "t", ()),
            Region(4, "left", "o", ()),
            Region(5, "left", "deep", ()),
            Region(6, "right", "f", ()),
        )
    )
    parcels = np.array([[[1, 5, 5, 5, 5, 2, 0, 6]]], np.uint8)
    domain = parcels > 0
    lobes = lobe_map(
        parcels, domain, table, BullseyeSettings(lobes=LOBES | {"frontal": (1, 6)}), (1, 1, 1)
    )
    # deep voxels split between the frontal (1) and parietal (2) seeds; region 6 is the
    # right frontal lobe (5)
    assert lobes.ravel().tolist() == [1, 1, 1, 2, 2, 2, 0, 5]


def test_bullseye_has_36_zones_and_the_basal_ganglia_part():
    table = bullseye_table()
    assert len(table) == 36 and table.by_id(33).name == "basal ganglia and thalamus, shell 1"
    lobes = np.array([[[1, 8, 1]]])
    deep = np.array([[[False, False, True]]])
    depth = np.array([[[0.1, 0.99, 0.6]]])
    out = bullseye_map(lobes, deep, depth, np.ones_like(deep))
    assert out.ravel().tolist() == [1, 32, 35]


def test_settings_refuse_unusable_values():
    with pytest.raises(InputError, match="bands_mm"):
        PvDeepSettings(bands_mm=(13, 3))
    with pytest.raises(InputError, match="lobes"):
        BullseyeSettings(lobes={"frontal": (1,)})
    with pytest.raises(InputError, match="both"):
        BullseyeSettings(lobes=LOBES | {"parietal": (1,)})


def test_ventricles_follow_the_dark_t1w_beyond_a_small_prior_but_not_into_grey_matter():
    """A ventricle grown by atrophy (r <= 10 mm) where the atlas says r <= 7 mm; a
    caudate-like grey blob touches it. The T1w finds the whole ventricle, no grey."""
    r, _, wm, _ = sphere_phantom(radius_v=10, radius_c=30)
    true_ventricle = r <= 10
    prior = r <= 7
    n = r.shape[0]
    grey = np.zeros_like(wm)
    c = (n - 1) // 2
    grey[c + 10 : c + 15, c - 3 : c + 3, c - 3 : c + 3] = True
    t1 = np.where(true_ventricle, 0.1, np.where(grey, 0.55, 0.85))
    brain = r <= 36
    found = segment_ventricles(
        prior, brain, (1, 1, 1), t1w=t1, white_matter=wm & ~grey & ~true_ventricle
    )
    assert np.array_equal(found, true_ventricle)
    assert np.array_equal(segment_ventricles(prior, brain, (1, 1, 1)), prior)
    with pytest.raises(InputError, match="ventricle prior"):
        segment_ventricles(np.zeros_like(prior), brain, (1, 1, 1), subject="01")


def test_the_csf_level_holds_when_the_priors_core_lies_in_tissue():
    """Small ventricles: the prior carried over is 2.5 times too wide and the ventricle
    fills only its left 40 %, so the prior's core (eroded by 2 mm) is mostly white
    matter, as on a real subject whose core median went from CSF to grey matter between
    two registrations. The CSF level comes from the prior's darker half: the ventricle
    is found, voxel for voxel, without the grey blob beside it."""
    shape = (40, 40, 40)
    prior = np.zeros(shape, bool)
    prior[10:30, 10:30, 10:30] = True
    ventricle = np.zeros(shape, bool)
    ventricle[10:18, 10:30, 10:30] = True
    grey = np.zeros(shape, bool)
    grey[5:10, 15:25, 15:25] = True
    t1 = np.where(ventricle, 0.1, np.where(grey, 0.55, 0.85))
    wm = ~ventricle & ~grey
    core = prior & (distance_mm(~prior, (1, 1, 1)) > 2.0)
    assert np.median(t1[core]) == 0.85  # the core's median is white matter
    found = segment_ventricles(prior, np.ones(shape, bool), (1, 1, 1), t1w=t1, white_matter=wm)
    assert np.array_equal(found, ventricle)


def test_the_cisterns_beside_the_brainstem_do_not_join_the_ventricles():
    """A ventricle (the prior, 1 mm voxels) and, 4 mm below it, a dark cistern wrapped
    round an infratentorial block, as the quadrigeminal cistern lies between the atria
    and the tectum: within the growth margin and joined to the ventricle by dark
    voxels. Given the infratentorial structures, the dark voxels nearer them than the
    prior are left out, and with them the path; without, the cistern joins."""
    shape = (40, 40, 40)
    brain = np.ones(shape, bool)
    ventricle = np.zeros(shape, bool)
    ventricle[14:26, 14:26, 24:32] = True
    infratentorial = np.zeros(shape, bool)
    infratentorial[16:24, 16:24, 8:16] = True
    cistern = np.zeros(shape, bool)
    cistern[14:26, 14:26, 16:24] = True  # above the block, up to the ventricle
    cistern[14:26, 14:26, 8:16] = ~infratentorial[14:26, 14:26, 8:16]  # round it
    dark = ventricle | cistern
    t1 = np.where(dark, 0.1, 0.85)
    wm = ~dark & ~infratentorial
    d_prior = distance_mm(ventricle, (1, 1, 1))
    d_infra = distance_mm(infratentorial, (1, 1, 1))

    joined = segment_ventricles(ventricle, brain, (1, 1, 1), t1w=t1, white_matter=wm)
    assert np.array_equal(joined, ventricle | (cistern & (d_prior <= VENTRICLE_MARGIN_MM)))
    found = segment_ventricles(
        ventricle, brain, (1, 1, 1), t1w=t1, white_matter=wm, infratentorial=infratentorial
    )
    assert np.array_equal(
        found, ventricle | (cistern & (d_prior <= VENTRICLE_MARGIN_MM) & (d_prior < d_infra))
    )
    assert not (found & (d_infra <= 3)).any()
    assert found.sum() < joined.sum()


def test_the_jhu_ventricle_prior_keeps_the_lateral_ventricles_not_the_fourth():
    """Two lateral ventricles joined by a third, and below it a channel (aqueduct and
    fourth ventricle) between left and right infratentorial labels: all one deep CSF
    component, of which the prior keeps the lateral ventricles and drops the channel."""
    from wmhmap.zoneprior import jhu_zone_prior, largest_components

    shape = (61, 61, 81)
    brain = np.zeros(shape, bool)
    brain[1:-1, 1:-1, 1:-1] = True
    labels = np.zeros(shape, np.uint8)
    labels[18:28, 24:37, 12:36] = 28  # left cerebellum
    labels[33:43, 24:37, 12:36] = 28 + 65  # right cerebellum
    csf = np.zeros(shape, bool)
    lateral = np.zeros(shape, bool)
    lateral[16:26, 20:42, 44:62] = lateral[35:45, 20:42, 44:62] = True
    channel = np.zeros(shape, bool)
    channel[28:33, 28:33, 14:40] = True
    csf |= lateral | channel
    csf[26:35, 28:33, 40:47] = True  # the third ventricle joins them all
    tissue = np.where(csf, 1, np.where(brain, 3, 0)).astype(np.uint8)
    assert largest_components(csf, 1.0)[channel].all()  # one component before

    ventricles = jhu_zone_prior(labels, tissue, brain, (1.0, 1.0, 1.0)) == VENTRICLES
    assert ventricles[lateral].all()
    assert not ventricles[:, :, :36].any()  # nothing beside the infratentorial labels


def test_zone_maps_partition_the_white_matter_and_loads_add_up():
    r, ventricles, wm, _ = sphere_phantom(radius_v=8, radius_c=30)
    n = r.shape[0]
    c = (n - 1) // 2
    prior = np.zeros(r.shape, np.uint8)
    prior[ventricles] = VENTRICLES
    prior[c - 2 : c + 3, c + 12 : c + 15, c - 2 : c + 3] = DEEP_GREY
    prior[:, :, : c - 24] = np.where(wm[:, :, : c - 24], INFRATENTORIAL, 0)
    # four lobe seed parcels in the cortex-side white matter, left x < c, right x > c
    parcels = np.zeros(r.shape, np.uint8)
    x, y = np.indices(r.shape)[:2]
    outer = wm & (r > 24)
    for k, region in enumerate((1, 2, 3, 4)):
        quadrant = (y >= c) if k < 2 else (y < c)
        parcels[outer & quadrant & (x < c) & ((x + y) % 2 == k % 2)] = region
        parcels[outer & quadrant & (x >= c) & ((x + y) % 2 == k % 2)] = region + 4
    table = RegionTable(
        tuple(Region(i, "left", str(i), ()) for i in (1, 2, 3, 4))
        + tuple(Region(i + 4, "right", str(i), ()) for i in (1, 2, 3, 4))
    )
    lobes = {"frontal": (1, 5), "parietal": (2, 6), "temporal": (3, 7), "occipital": (4, 8)}
    brain = r <= 34
    maps = zone_maps(
        wm, brain, prior, parcels, table, (1, 1, 1), bullseye=BullseyeSettings(lobes=lobes)
    )
    supra = maps.white_matter & (prior != INFRATENTORIAL)
    deep_grey = (prior == DEEP_GREY) & ~maps.white_matter
    # bullseye zones partition the supratentorial white matter (32 lobar zones) and the
    # deep grey matter (the last 4); pvdeep all of the white matter
    assert np.array_equal(maps.bullseye > 0, supra | deep_grey)
    assert np.array_equal(maps.bullseye > 32, deep_grey)
    assert np.array_equal(maps.pvdeep > 0, maps.white_matter)
    assert (maps.pvdeep == 3).sum() == (wm & (prior == INFRATENTORIAL)).sum()
    assert len(np.unique(maps.bullseye[supra])) >= 30

    lesions = np.zeros(r.shape, np.uint8)
    lesions[c + 9 : c + 12, c : c + 3, c : c + 3] = 1  # next to the ventricle
    lesions[c + 20 : c + 23, c : c + 3, c : c + 3] = 1  # deep
    lesion_img = nib.Nifti1Image(lesions, np.eye(4))
    loads = pd.DataFrame({"subject": ["p"], "scheme": ["jhu34"], "region_id": [0]})
    out = zone_loads(loads, "pvdeep", maps.pvdeep, lesion_img, None, brain)
    pv = out[out.scheme == "pvdeep"].set_index("region_name")
    assert pv.loc["periventricular", "lesion_mm3"] == 27 and pv.loc["deep", "lesion_mm3"] == 27
    assert pv.lesion_mm3.sum() == lesions.sum()
    be = zone_loads(loads, "bullseye", maps.bullseye, lesion_img, None, brain)
    assert be[be.scheme == "bullseye"].lesion_mm3.sum() == lesions.sum()
    # with two folds (the first finds only the deep lesion), a training subject held out
    # by fold 0 and an expert who marked only the periventricular lesion
    folds = np.stack([lesions * (np.arange(r.shape[0]) >= c + 15)[:, None, None], lesions], -1)
    expert = lesions * (np.arange(r.shape[0]) < c + 15)[:, None, None]
    out = zone_loads(
        loads,
        "pvdeep",
        maps.pvdeep,
        lesion_img,
        folds.astype(np.float32),
        brain,
        held_out_fold=0,
        reference=expert,
    )
    pv = out[out.scheme == "pvdeep"].set_index("region_name")
    assert pv.loc["periventricular", ["held_out_mm3", "reference_mm3"]].tolist() == [0, 27]
    assert pv.loc["deep", ["held_out_mm3", "reference_mm3"]].tolist() == [27, 0]
    assert (
        pv.loc["periventricular", "fold_min_mm3"],
        pv.loc["periventricular", "fold_max_mm3"],
    ) == (0, 27)
