"""The demo atlas: the template T1 and a 34-region white-matter parcellation of it.

This is a stand-in for the refined JHU type II atlas, which we may not redistribute.
Each template white-matter voxel (WM probability >= 0.5) is given the region whose
seed point is nearest (a Voronoi parcellation). The 17 left seeds are the centroids
of the 17 merged JHU regions, measured once on the real JHU "Eve" type II map after
an affine registration to the MNI152 2009 template, averaged with the mirrored right
centroids so the parcellation is symmetric; right seeds mirror them (region id + 17).
Two extra seeds in the cerebellar white matter and the brainstem catch the
infratentorial white matter, which is "outside the 34 regions" (label 0), as in the
refined atlas.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from wmhmap.demo.anatomy import Template
from wmhmap.zoneprior import demo_zone_prior

LEFT_SEEDS_MM: dict[int, tuple[float, float, float]] = {
    1: (-40.0, -49.5, 44.5),
    2: (-7.3, -8.9, 27.9),
    3: (-13.7, 34.2, 37.9),
    4: (-36.8, 32.5, 27.6),
    5: (-44.9, 24.9, 6.6),
    6: (-36.6, -17.1, 47.2),
    7: (-10.3, -68.6, 22.9),
    8: (-31.5, -42.7, -20.9),
    9: (-32.5, -80.2, 13.1),
    10: (-52.3, -21.5, -11.1),
    11: (-16.7, 39.5, -18.4),
    12: (-28.0, -12.1, 32.2),
    13: (-29.9, -46.5, 13.4),
    14: (-19.9, 26.8, 6.1),
    15: (-34.6, 4.8, -1.2),
    16: (-26.6, -23.3, -2.3),
    17: (-10.8, -8.2, 18.6),
}
"""Centroids (MNI mm) of the left merged JHU regions, symmetrised."""

OUTSIDE_SEEDS_MM = ((-16.0, -56.0, -32.0), (16.0, -56.0, -32.0), (0.0, -28.0, -24.0))
"""Cerebellar white matter (left, right) and brainstem: not one of the 34 regions."""

WM_THRESHOLD = 0.5


def region_seeds() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Seed coordinates (n, 3) in MNI mm and their region ids (0 for outside seeds)."""
    coords, ids = [], []
    for rid, (x, y, z) in LEFT_SEEDS_MM.items():
        coords += [(x, y, z), (-x, y, z)]
        ids += [rid, rid + 17]
    coords += list(OUTSIDE_SEEDS_MM)
    ids += [0] * len(OUTSIDE_SEEDS_MM)
    return np.asarray(coords, dtype=np.float64), np.asarray(ids, dtype=np.int64)


def parcellate_white_matter(template: Template) -> npt.NDArray[np.uint8]:
    """Voronoi parcellation of the template white matter into the 34 regions."""
    wm = template.wm >= WM_THRESHOLD
    xyz = template.coordinates_of(wm).T
    seeds, ids = region_seeds()
    _, nearest = cKDTree(seeds).query(xyz)
    labels = np.zeros(template.shape, dtype=np.uint8)
    labels[wm] = ids[nearest].astype(np.uint8)
    return labels


def tissue_classes(template: Template) -> npt.NDArray[np.uint8]:
    """Hard tissue classes like the JHU atlas: 0 background, 1 CSF, 2 GM, 3 WM."""
    stack = np.stack([template.csf, template.gm, template.wm])
    classes = (np.argmax(stack, axis=0) + 1).astype(np.uint8)
    classes[~template.brain] = 0
    return classes


def zone_prior(template: Template, labels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The demo atlas's zone prior (:func:`wmhmap.zoneprior.demo_zone_prior`): its
    ventricles, deep grey matter, and the white matter the parcellation ``labels`` leave
    outside the regions (cerebellum and brainstem) as infratentorial."""
    infratentorial = (template.wm >= WM_THRESHOLD) & (labels == 0)
    world = np.moveaxis(template.world_coordinates(), 0, -1)
    return demo_zone_prior(template.ventricles, template.gm, infratentorial, world)
