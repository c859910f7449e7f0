"""Group lesion-frequency maps of a finished demo run against the planted signal regions.

Run: ``.venv/bin/python benchmarks/bench_lesion_frequency.py --results results``

Carries every subject's WMH mask (the workflow's, or ``--truth`` for the simulation's
own masks) into the demo atlas with the inverse of its atlas transform, as the
``map_lesion_frequency`` rule does, averages per diagnosis, and prints per group the
regions with the highest mean frequency, the region holding the peak voxel, and the
regions where AD exceeds CN most, against the demo's signal regions
(``demo.signal_regions``: the diagnosis-specific load goes there). Also the seconds
per subject.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from wmhmap.frequency import FrequencyMaps, region_frequency, to_template
    from wmhmap.preprocess import LinearTransform
    from wmhmap.regions import load_region_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="a finished demo run")
    parser.add_argument("--truth", action="store_true", help="the simulation's true masks")
    args = parser.parse_args()
    r = args.results
    signal = set(
        yaml.safe_load((REPO / "config" / "config.yaml").read_text())["demo"]["lesions"][
            "signal_regions"
        ]
    )
    template = nib.load(r / "atlas/tpl-demo/tpl-demo_T1w.nii.gz")
    labels = np.asarray(nib.load(r / "atlas/tpl-demo/tpl-demo_desc-regions_dseg.nii.gz").dataobj)
    sheet = pd.read_csv(r / "demo/samplesheet.tsv", sep="\t", dtype=str)
    maps = FrequencyMaps.empty(template.shape)
    seconds = []
    for s, dx in zip(sheet.subject, sheet.diagnosis, strict=True):
        grid = nib.load(r / f"sub-{s}/anat/sub-{s}_space-FLAIR_desc-wmh_mask.nii.gz")
        mask = grid
        if args.truth:
            truth = r / f"demo/truth/sub-{s}/anat/sub-{s}_label-WMH_desc-truth_mask.nii.gz"
            mask = nib.Nifti1Image(
                np.asarray(nib.as_closest_canonical(nib.load(truth)).dataobj), grid.affine
            )
        xfm = LinearTransform.read(
            r / f"sub-{s}/xfm/sub-{s}_from-atlas_to-FLAIR_mode-image_xfm.mat"
        )
        start = time.perf_counter()
        maps.add(to_template(mask, template, xfm), [dx])
        seconds.append(time.perf_counter() - start)
    table = region_frequency(maps, labels, load_region_table())
    means = {}
    for group in sorted(maps.sums):
        rows = table[(table.group == group) & (table.region_id > 0)]
        means[group] = rows.set_index("region_id").mean_frequency
        top = rows.sort_values("mean_frequency", ascending=False).region_id.head(6).tolist()
        peak = table[(table.group == group) & (table.region_id == 0)].iloc[0]
        print(
            f"{group} (n = {maps.counts[group]}): top regions {top} "
            f"(signal: {[t for t in top if t in signal]}); peak {peak.peak_frequency:.2f} "
            f"({peak.region})"
        )
    if {"AD", "CN"} <= set(means):
        gap = (means["AD"] - means["CN"]).sort_values(ascending=False).index[:6].tolist()
        print(f"AD - CN top regions {gap} (signal: {[g for g in gap if g in signal]})")
    print(f"signal regions {sorted(signal)}; {np.median(seconds):.2f} s per subject (median)")


if __name__ == "__main__":
    main()
