"""Does the registration QC tell a T1w from a FLAIR given in its place?

Run: ``WMHMAP_REAL_SCANS_DIR=... WMHMAP_JHU_ATLAS_DIR=... .venv/bin/python
benchmarks/bench_scan_contrast.py [--jobs 2]`` (32 scans, about 5 minutes on 2 cores)

Every real T1w and FLAIR of ``../shared/data/real_scans`` (the 20 WMH-challenge T1
of three scanners, the four Lesjak visits' T1w and FLAIR, lesjak07's pair, the two
ISBI FLAIRs: five scanners, 1-4.4 mm slices, skull-stripped or not) goes through the
workflow's preprocessing (:func:`wmhmap.preprocess.prepare_scan`) and JHU atlas
propagation (:func:`wmhmap.atlas.propagate_atlas`, run as for a subject's only scan,
given as a FLAIR, which skips the tissue classes: the fit and the measure are the same;
``bench_real_regions.prepare_flair``). Its contrast
measure, ``wm_gm_ratio`` (:func:`wmhmap.atlas.white_grey_ratio`: the atlas's deep white
matter over its grey matter on the scan), is what ``t1w_wm_gm_ratio`` or
``flair_wm_gm_ratio`` of ``registration_qc.tsv`` holds for it; and ``bright_wm_ratio``
(:func:`wmhmap.atlas.bright_white_ratio`: the brightest 5 % of the brain over the deep
white matter; CSF would fill it on a T2w), ``t1w_bright_wm_ratio`` or
``flair_bright_wm_ratio``. Prints each scan, then per modality the ranges, and how many
the QC flags at the config's thresholds in their own column and in the other one (a
FLAIR given as the T1w, a T1w as the FLAIR) and as a T2w.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_regions import CHALLENGE, SHARED, data_dirs, load_config, prepare_flair


def scans() -> list[tuple[str, str]]:
    """(path under real_scans, modality) of every real scan."""
    root = Path(os.environ.get("WMHMAP_REAL_SCANS_DIR", SHARED / "real_scans"))
    found = [
        (f"{CHALLENGE}/{p.name}/T1.nii.gz", "T1w")
        for p in sorted((root / CHALLENGE).iterdir(), key=lambda p: int(p.name))
    ]
    for patient in ("patient01", "patient12"):
        for study in ("study1", "study2"):
            for modality, name in (("T1w", "T1W"), ("FLAIR", "FLAIR")):
                found.append((f"lesjak_longitudinal/{patient}/{study}_{name}.nii.gz", modality))
    found += [
        ("lesion_flair/lesjak07/T1w.nii.gz", "T1w"),
        ("lesion_flair/lesjak07/FLAIR.nii.gz", "FLAIR"),
        ("lesion_flair/isbi01/FLAIR.nii.gz", "FLAIR"),
        ("lesion_flair/isbi02/FLAIR.nii.gz", "FLAIR"),
    ]
    return found


def measure(scan: tuple[str, str]) -> dict:
    path, modality = scan
    start = time.perf_counter()
    _, result = prepare_flair(data_dirs()[0].parent / path, load_config(), path)
    return {
        "scan": path,
        "modality": modality,
        "wm_gm_ratio": result.quality["wm_gm_ratio"],
        "bright_wm_ratio": result.quality["bright_wm_ratio"],
        "brain_dice": result.quality["brain_dice"],
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    from wmhmap.qc import QcThresholds

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="scans side by side")
    args = parser.parse_args()
    qc = QcThresholds.from_config(load_config()["qc"])
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(measure, scans()))
    print(
        f"{'scan':52s} {'modality':8s} {'wm/gm':>6s} {'bright/wm':>9s} {'brain_dice':>10s} "
        f"{'s':>5s}"
    )
    for r in rows:
        print(
            f"{r['scan']:52s} {r['modality']:8s} {r['wm_gm_ratio']:6.3f} "
            f"{r['bright_wm_ratio']:9.3f} {r['brain_dice']:10.3f} {r['seconds']:5.1f}"
        )
    print(
        f"\nflagged: a T1w below qc.min_t1w_wm_gm_ratio {qc.min_t1w_wm_gm_ratio}, a FLAIR "
        f"above qc.max_flair_wm_gm_ratio {qc.max_flair_wm_gm_ratio}, either above "
        f"qc.max_bright_wm_ratio {qc.max_bright_wm_ratio}"
    )
    for modality in ("T1w", "FLAIR"):
        ratios = [r["wm_gm_ratio"] for r in rows if r["modality"] == modality]
        bright = [r["bright_wm_ratio"] for r in rows if r["modality"] == modality]
        as_t1w = sum(v < qc.min_t1w_wm_gm_ratio for v in ratios)
        as_flair = sum(v > qc.max_flair_wm_gm_ratio for v in ratios)
        as_t2w = sum(v > qc.max_bright_wm_ratio for v in bright)
        print(
            f"{modality:6s} n={len(ratios):2d}  wm/gm {min(ratios):.3f}-{max(ratios):.3f}  "
            f"bright/wm {min(bright):.3f}-{max(bright):.3f}  flagged in the T1w column "
            f"{as_t1w}, in the FLAIR column {as_flair}, as a T2w {as_t2w}"
        )


if __name__ == "__main__":
    main()
