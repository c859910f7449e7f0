"""Does the registration QC tell a subject's own T1w from another person's?

Run: ``WMHMAP_REAL_SCANS_DIR=... .venv/bin/python benchmarks/bench_t1w_flair_pairs.py
[--thick]`` (``--thick`` adds three FLAIRs with their slices merged to 6-8 mm: 40
pairings, about 8 minutes on 2 cores)

The real scans with a T1w and a FLAIR (the four Lesjak visits, two patients, 3-4 mm
FLAIR slices on another grid than the T1w; lesjak07, 1 mm) go through the workflow's
preprocessing (:func:`wmhmap.preprocess.prepare_scan`). Every T1w is then rigidly
registered to every FLAIR with the workflow's settings, as ``register_t1w_to_flair``
does, and both QC measures of the fit are taken: the brain masks' overlap
(:func:`wmhmap.atlas.coregistration_overlap`, ``t1w_flair_dice``) and the CSF overlap
(:func:`wmhmap.atlas.csf_overlap`, ``t1w_flair_csf_dice``). A pairing is the same
visit, the same person at another visit, or another person: a swapped file.
Prints each pairing, then per kind the range of both measures and the QC's verdict at
the config's thresholds.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_regions import SHARED, load_config

LESJAK = ("patient01", "patient12")


def scan_files() -> dict[str, tuple[Path, Path]]:
    """Visit -> (T1w, FLAIR) of the real scans that have both."""
    root = Path(os.environ.get("WMHMAP_REAL_SCANS_DIR", SHARED / "real_scans"))
    files = {
        f"{p}_{s}": (
            root / "lesjak_longitudinal" / p / f"{s}_T1W.nii.gz",
            root / "lesjak_longitudinal" / p / f"{s}_FLAIR.nii.gz",
        )
        for p in LESJAK
        for s in ("study1", "study2")
    }
    files["lesjak07"] = (
        root / "lesion_flair" / "lesjak07" / "T1w.nii.gz",
        root / "lesion_flair" / "lesjak07" / "FLAIR.nii.gz",
    )
    missing = [str(f) for pair in files.values() for f in pair if not f.is_file()]
    if missing:
        sys.exit(f"missing real scans (set WMHMAP_REAL_SCANS_DIR): {missing}")
    return files


def thick_slices(img: nib.Nifti1Image, factor: int) -> nib.Nifti1Image:
    """``img`` (RAS) with each run of ``factor`` slices along its third axis averaged."""
    data = np.asarray(img.dataobj, dtype=np.float32)
    n = data.shape[2] // factor * factor
    merged = data[:, :, :n].reshape(*data.shape[:2], n // factor, factor).mean(axis=3)
    affine = img.affine.copy()
    affine[:3, 3] += img.affine[:3, 2] * (factor - 1) / 2
    affine[:3, 2] *= factor
    return nib.Nifti1Image(merged, affine)


def kind(t1w: str, flair: str) -> str:
    if t1w == flair:
        return "same visit"
    if t1w.split("_")[0] == flair.split("_")[0]:
        return "same person, other visit"
    return "another person"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--thick", action="store_true", help="also 6-8 mm FLAIR slices")
    args = parser.parse_args()

    from wmhmap.atlas import coregistration_overlap, csf_overlap
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.preprocess import (
        LinearRegistrationSettings,
        N4Settings,
        prepare_scan,
        register_linear,
    )
    from wmhmap.qc import QcThresholds, registration_flags

    config = load_config()
    n4 = N4Settings.from_config(config["preprocess"]["n4"])
    rigid = LinearRegistrationSettings.from_config(config["preprocess"]["rigid"])
    thresholds = QcThresholds.from_config(config["qc"])
    files = scan_files()
    t1ws = {v: prepare_scan(nib.load(t1), n4, subject=v) for v, (t1, _) in files.items()}
    flairs = {v: prepare_scan(nib.load(fl), n4, subject=v) for v, (_, fl) in files.items()}
    if args.thick:  # 1 mm -> 6 mm, 3-4 mm -> 6-8 mm
        for v, factor in (("lesjak07", 6), ("patient01_study1", 2), ("patient12_study1", 2)):
            raw = thick_slices(reorient_to_ras(nib.load(files[v][1])), factor)
            flairs[f"{v}_thick"] = prepare_scan(raw, n4, subject=v)

    rows = []
    print(f"{'T1w':<18} {'FLAIR':<24} {'kind':<26} brain   CSF    flags")
    for t1w, flair in itertools.product(t1ws, flairs):
        t, f = t1ws[t1w], flairs[flair]
        fit = register_linear(f.image, t.image, kind="Rigid", settings=rigid)
        row = {
            "kind": kind(t1w, flair.removesuffix("_thick")),
            "brain": coregistration_overlap(t.brain, f.brain, fit),
            "csf": csf_overlap(t.image, f.image, f.brain, fit),
        }
        flags = registration_flags(
            {
                "brain_dice": 1.0,
                "icv_ml": 1500.0,
                "t1w_flair_dice": row["brain"],
                "t1w_flair_csf_dice": row["csf"],
            },
            thresholds,
        )
        row["flagged_brain"] = any(x.measure == "t1w_flair_dice" for x in flags)
        row["flagged_csf"] = any(x.measure == "t1w_flair_csf_dice" for x in flags)
        rows.append(row)
        marks = ",".join(x.measure for x in flags) or "-"
        print(
            f"{t1w:<18} {flair:<24} {row['kind']:<26} {row['brain']:.3f}  {row['csf']:.3f}  {marks}"
        )

    print(
        f"\nthresholds: t1w_flair_dice {thresholds.min_t1w_flair_dice}, "
        f"t1w_flair_csf_dice {thresholds.min_t1w_flair_csf_dice}"
    )
    for name in ("same visit", "same person, other visit", "another person"):
        group = [r for r in rows if r["kind"] == name]
        brain = [r["brain"] for r in group]
        csf = [r["csf"] for r in group]
        print(
            f"{name:<26} n={len(group):<3} brain {min(brain):.3f}-{max(brain):.3f} "
            f"(median {np.median(brain):.3f}, flagged {sum(r['flagged_brain'] for r in group)}) "
            f"CSF {min(csf):.3f}-{max(csf):.3f} (median {np.median(csf):.3f}, "
            f"flagged {sum(r['flagged_csf'] for r in group)})"
        )


if __name__ == "__main__":
    main()
