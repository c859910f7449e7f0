#!/usr/bin/env python
"""How well the regional-load intervals hold the expert's load (demo results).

    python benchmarks/bench_load_uncertainty.py RESULTS [--min-ml 0.1] [--coverage 0.8]

RESULTS is a finished demo run (e.g. ``results/`` of ``make demo``). For every subject
it measures each region's load with every cross-validation fold's own mask
(``wmhmap.loads.load_uncertainty`` on the subject's ``desc-folds_probseg``) and the
expert's load of the same region (the subject's reference mask on its analysis grid,
``desc-reference_mask``: the demo's true lesions). A training subject's load by the fold
that held it out calibrates the intervals (``wmhmap.intervals``, as the workflow's
``calibrate_load_intervals``); the held-out subjects (split != train) check them.

Prints, over the held-out (subject, region) pairs with an expert load of at least
``--min-ml``: the share inside the folds' range and inside the calibrated interval, the
interval's median width relative to the load, and the Spearman correlation between the
folds' SD and the absolute error of the fused load (positive: the spread is wider where
the model is less sure).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from wmhmap.imageio import voxel_volume_mm3
from wmhmap.intervals import IntervalSettings, calibrate_intervals, with_intervals
from wmhmap.loads import lesions_count_as_white_matter, load_uncertainty, regional_loads
from wmhmap.nnunet.datasets import held_out_fold
from wmhmap.regions import load_region_table


def subject_rows(
    results: Path, subject: str, region_desc: str, spread: float, fold: int | None
) -> pd.DataFrame:
    anat = results / f"sub-{subject}" / "anat"
    grid = f"sub-{subject}_space-FLAIR"
    regions = nib.load(anat / f"{grid}_desc-{region_desc}_dseg.nii.gz")
    parcels = np.asarray(nib.load(anat / f"{grid}_desc-parcels_dseg.nii.gz").dataobj)
    labels = np.asarray(regions.dataobj)
    mask = np.asarray(nib.load(anat / f"{grid}_desc-wmh_mask.nii.gz").dataobj) > 0
    folds = nib.load(anat / f"{grid}_label-WMH_desc-folds_probseg.nii.gz").get_fdata()
    # the expert mask on the analysis grid (the raw truth file keeps the scanner's
    # orientation, which differs from the grid's at two of the demo's three sites)
    reference = nib.load(anat / f"{grid}_label-WMH_desc-reference_mask.nii.gz").dataobj
    table = load_region_table()
    volume = voxel_volume_mm3(regions)

    def region_map_for(lesions):
        return lesions_count_as_white_matter(labels, parcels, lesions, table)

    loads = regional_loads(
        mask, region_map_for(mask), table, voxel_volume_mm3=volume, subject=subject
    )
    rows = load_uncertainty(
        folds,
        region_map_for,
        loads,
        table,
        voxel_volume_mm3=volume,
        max_spread=spread,
        held_out_fold=fold,
        reference=np.asarray(reference) > 0,
    )
    rows["scheme"] = "jhu34"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--min-ml", type=float, default=0.1)
    parser.add_argument("--spread", type=float, default=0.5)
    parser.add_argument("--coverage", type=float, default=0.8)
    parser.add_argument("--floor-mm3", type=float, default=30.0)
    parser.add_argument("--regions", default="atlas", help="atlas or regions (the model's)")
    parser.add_argument("--dataset", default="Dataset501_WMHLesion")
    args = parser.parse_args()
    sheet = pd.read_csv(args.results / "demo" / "samplesheet.tsv", sep="\t", dtype=str)
    nnunet = args.results / "nnunet"
    splits = json.loads((nnunet / "preprocessed" / args.dataset / "splits_final.json").read_text())
    cases = json.loads((nnunet / "raw" / args.dataset / "dataset.json").read_text())
    rows = pd.concat(
        [
            subject_rows(
                args.results,
                s,
                args.regions,
                args.spread,
                held_out_fold(splits, cases["case_subjects"], s) if split == "train" else None,
            )
            for s, split in zip(sheet.subject, sheet.split, strict=True)
        ],
        ignore_index=True,
    )
    rows = rows[rows.region_id > 0]
    settings = IntervalSettings(args.coverage, args.floor_mm3)
    calibration = calibrate_intervals(rows[rows.held_out_mm3.notna()], settings)
    held = with_intervals(rows[rows.held_out_mm3.isna()], calibration)
    loaded = held[held.reference_mm3 >= 1000 * args.min_ml]
    truth = loaded.reference_mm3
    in_folds = (loaded.fold_min_mm3 <= truth) & (truth <= loaded.fold_max_mm3)
    inside = (loaded.interval_low_mm3 <= truth) & (truth <= loaded.interval_high_mm3)
    error = (held.lesion_mm3 - held.reference_mm3).abs()
    rho = spearmanr(held.fold_sd_mm3, error).statistic
    width = (loaded.interval_high_mm3 - loaded.interval_low_mm3) / truth
    row = calibration.iloc[0]
    print(
        f"calibration: {row.subjects} training subjects, {row.pairs} pairs, "
        f"coverage {row.coverage}, floor {row.floor_mm3} mm3: q = {row['quantile']:.3f}"
    )
    print(f"held-out subjects: {held.subject.nunique()}; region rows: {len(held)}")
    print(
        f"pairs with expert load >= {args.min_ml} mL: {len(loaded)}; inside the folds' "
        f"range: {in_folds.mean():.3f} ({int(in_folds.sum())}/{len(loaded)}); inside the "
        f"calibrated interval: {inside.mean():.3f} ({int(inside.sum())}/{len(loaded)})"
    )
    print(f"calibrated interval width / expert load, median: {width.median():.3f}")
    print(f"Spearman(fold SD, |fused - expert|) over all held-out rows: {rho:.3f}")
    expected_error = (held.expected_mm3 - held.reference_mm3).abs().median()
    print(
        f"median |error| mm3: fused mask {error.median():.1f}, "
        f"probability-weighted {expected_error:.1f}"
    )
    print(f"flagged uncertain (spread > {args.spread} x load): {held.uncertain.mean():.3f}")


if __name__ == "__main__":
    main()
