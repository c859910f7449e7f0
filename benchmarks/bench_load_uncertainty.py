#!/usr/bin/env python
"""How well the per-fold spread of regional loads brackets the truth (demo results).

    python benchmarks/bench_load_uncertainty.py RESULTS [--min-ml 0.1]

RESULTS is a finished demo run (e.g. ``results/`` of ``make demo``). For every held-out
subject (split != train) it measures each region's load with every cross-validation
fold's own mask (``wmhmap.loads.load_uncertainty`` on the subject's
``desc-folds_probseg``), and the true load of the same region from the demo's true
lesion mask on the same region map. It prints the share of (subject, region) pairs
with a true load of at least ``--min-ml`` whose fold range contains it, the share of
flagged pairs, and the Spearman correlation between the folds' SD and the absolute
error of the fused load (positive: the spread is wider where the model is less sure).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from wmhmap.imageio import voxel_volume_mm3
from wmhmap.loads import lesions_count_as_white_matter, load_uncertainty, regional_loads
from wmhmap.regions import load_region_table


def subject_rows(results: Path, subject: str, region_desc: str, spread: float) -> pd.DataFrame:
    anat = results / f"sub-{subject}" / "anat"
    grid = f"sub-{subject}_space-FLAIR"
    regions = nib.load(anat / f"{grid}_desc-{region_desc}_dseg.nii.gz")
    parcels = np.asarray(nib.load(anat / f"{grid}_desc-parcels_dseg.nii.gz").dataobj)
    labels = np.asarray(regions.dataobj)
    mask = np.asarray(nib.load(anat / f"{grid}_desc-wmh_mask.nii.gz").dataobj) > 0
    folds = nib.load(anat / f"{grid}_label-WMH_desc-folds_probseg.nii.gz").get_fdata()
    truth_file = results / "demo" / "truth" / f"sub-{subject}" / "anat"
    truth = np.asarray(
        nib.load(truth_file / f"sub-{subject}_label-WMH_desc-truth_mask.nii.gz").dataobj
    )
    truth = truth > 0
    table = load_region_table()
    volume = voxel_volume_mm3(regions)

    def region_map_for(lesions):
        return lesions_count_as_white_matter(labels, parcels, lesions, table)

    loads = regional_loads(
        mask, region_map_for(mask), table, voxel_volume_mm3=volume, subject=subject
    )
    rows = load_uncertainty(
        folds, region_map_for, loads, table, voxel_volume_mm3=volume, max_spread=spread
    )
    true = regional_loads(
        truth, region_map_for(truth), table, voxel_volume_mm3=volume, subject=subject
    )
    rows["true_mm3"] = true["lesion_mm3"].to_numpy()
    return rows[rows.region_id > 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--min-ml", type=float, default=0.1)
    parser.add_argument("--spread", type=float, default=0.5)
    parser.add_argument("--regions", default="atlas", help="atlas or regions (the model's)")
    args = parser.parse_args()
    sheet = pd.read_csv(args.results / "demo" / "samplesheet.tsv", sep="\t", dtype=str)
    held_out = sheet.loc[sheet.split != "train", "subject"].tolist()
    rows = pd.concat(
        [subject_rows(args.results, s, args.regions, args.spread) for s in held_out],
        ignore_index=True,
    )
    loaded = rows[rows.true_mm3 >= 1000 * args.min_ml]
    inside = (loaded.fold_min_mm3 <= loaded.true_mm3) & (loaded.true_mm3 <= loaded.fold_max_mm3)
    error = (rows.lesion_mm3 - rows.true_mm3).abs()
    rho = spearmanr(rows.fold_sd_mm3, error).statistic
    expected_error = (rows.expected_mm3 - rows.true_mm3).abs().median()
    print(f"held-out subjects: {len(held_out)}; region rows: {len(rows)}")
    print(
        f"pairs with true load >= {args.min_ml} mL: {len(loaded)}; fold range contains "
        f"the truth: {inside.mean():.3f} ({int(inside.sum())}/{len(loaded)})"
    )
    print(f"Spearman(fold SD, |fused - true|) over all rows: {rho:.3f}")
    print(
        f"median |error| mm3: fused mask {error.median():.1f}, "
        f"probability-weighted {expected_error:.1f}"
    )
    print(f"flagged uncertain (spread > {args.spread} x load): {rows.uncertain.mean():.3f}")


if __name__ == "__main__":
    main()
