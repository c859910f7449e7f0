"""Time the one-pass regional loads against a per-region loop on a brain-sized volume.

Run: ``.venv/bin/python benchmarks/bench_loads.py [--runs 7] [--lesions 300]``

The volume is a 1 mm MNI-sized grid (182 x 218 x 182) with a random 34-region map
(random blocks inside an ellipsoidal "brain", 0 around it) and random spherical
lesion blobs. Both implementations compute the same long table (checked before timing):
lesion and region volume per region, and lesion counts (26-connected lesions, each in
the region holding most of its voxels). Goals: >= 10x faster, <= 0.2 s per subject.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import ndimage

from wmhmap.loads import regional_loads
from wmhmap.regions import OUTSIDE, RegionTable, load_region_table

SHAPE = (182, 218, 182)
VOXEL_MM3 = 1.0
SPEED_UP_GOAL = 10.0
SECONDS_GOAL = 0.2


def synthetic_subject(
    rng: np.random.Generator, n_lesions: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """A (lesion mask, region map) pair on the MNI 1 mm grid."""
    centre = np.array(SHAPE) / 2
    radii = np.array(SHAPE) * 0.42
    grid = np.ogrid[tuple(slice(0, s) for s in SHAPE)]
    inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True)) <= 1
    # Regions: random labels on 12 mm blocks, upsampled, cut to the "brain".
    blocks = rng.integers(1, 35, size=tuple(s // 12 + 1 for s in SHAPE), dtype=np.uint8)
    regions = blocks.repeat(12, 0).repeat(12, 1).repeat(12, 2)[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    regions = np.where(inside, regions, 0).astype(np.uint8)
    lesions = np.zeros(SHAPE, dtype=np.uint8)
    offsets = np.indices((11, 11, 11)) - 5
    distance2 = (offsets**2).sum(axis=0)
    for centre_voxel in rng.integers(20, np.array(SHAPE) - 20, size=(n_lesions, 3)):
        ball = distance2 <= rng.uniform(0.8, 5.0) ** 2
        box = tuple(slice(c - 5, c + 6) for c in centre_voxel)
        lesions[box] |= ball.astype(np.uint8)
    return lesions, regions


def per_region_loop(
    lesions: npt.NDArray[np.uint8], regions: npt.NDArray[np.uint8], table: RegionTable
) -> pd.DataFrame:
    """The straightforward implementation: one masked pass over the volume per region."""
    mask = lesions.astype(bool)
    components, n_lesions = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    ids = [*table.ids.tolist(), OUTSIDE]
    lesion_voxels = []
    region_voxels = []
    overlap = np.zeros((len(ids), n_lesions + 1), dtype=np.int64)
    for row, region_id in enumerate(ids):
        in_region = regions == region_id
        lesion_voxels.append(int(np.count_nonzero(mask & in_region)))
        region_voxels.append(int(np.count_nonzero(in_region)))
        overlap[row] = np.bincount(components[mask & in_region], minlength=n_lesions + 1)
    # Majority region of each lesion; ties to the lowest id (outside = 0 included).
    order = np.argsort(ids, kind="stable")
    owner = np.asarray(ids)[order][overlap[order, 1:].argmax(axis=0)]
    counts = [int(np.count_nonzero(owner == region_id)) for region_id in ids]
    return pd.DataFrame(
        {
            "region_id": ids,
            "lesion_mm3": np.asarray(lesion_voxels) * VOXEL_MM3,
            "region_mm3": np.asarray(region_voxels) * VOXEL_MM3,
            "lesion_count": counts,
        }
    )


def median_seconds(function: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each (median)")
    parser.add_argument("--lesions", type=int, default=300, help="lesion blobs per subject")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    table = load_region_table()
    lesions, regions = synthetic_subject(np.random.default_rng(args.seed), args.lesions)

    def one_pass() -> pd.DataFrame:
        return regional_loads(lesions, regions, table, voxel_volume_mm3=VOXEL_MM3, subject="b")

    def loop() -> pd.DataFrame:
        return per_region_loop(lesions, regions, table)

    fast = one_pass()
    slow = loop()
    columns = ["region_id", "lesion_mm3", "lesion_count"]
    in_regions = slow.region_id != OUTSIDE
    if not (
        fast[columns].equals(slow[columns])
        and fast.region_mm3[in_regions].equals(slow.region_mm3[in_regions])
    ):
        raise SystemExit("one-pass and per-region loop disagree; not timing")
    print(
        f"volume {'x'.join(map(str, SHAPE))}, {len(table)} regions, "
        f"{int(lesions.sum())} lesion voxels in {int(fast.lesion_count.sum())} lesions"
    )

    fast_s = median_seconds(one_pass, args.runs)
    slow_s = median_seconds(loop, args.runs)
    ratio = slow_s / fast_s
    print(
        f"one-pass median {fast_s:.3f} s | per-region loop median {slow_s:.2f} s | "
        f"speed-up {ratio:.1f}x  ({args.runs} runs each)"
    )
    print(
        f"goals: speed-up >= {SPEED_UP_GOAL:g}x: {'met' if ratio >= SPEED_UP_GOAL else 'MISSED'}; "
        f"one-pass <= {SECONDS_GOAL:g} s: {'met' if fast_s <= SECONDS_GOAL else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
