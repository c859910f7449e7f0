"""Lesion filling in the brain volumes, against lesion-free truth made on real scans.

Run: ``WMHMAP_REAL_SCANS_DIR=... WMHMAP_JHU_ATLAS_DIR=... .venv/bin/python
benchmarks/bench_lesion_filling.py [--pairs 11:2 17:4 ...] [--jobs 2]``

White-matter lesions are dark on T1w, and a tissue segmentation puts part of them in
grey matter. How much that moves a subject's volumes, and whether filling the lesions
(:func:`wmhmap.brainvolumes.fill_lesions`) undoes it, needs the same brain without its
lesions, which no scan has. So the truth is made: a WMH-challenge subject with few
lesions (the receiver) is run through the workflow's preprocessing and atlas
propagation; the expert lesions of a heavy subject on the same scanner grid (the donor)
are painted into the receiver's white matter, each voxel at the donor's own T1w
intensity relative to its deep white matter. The receiver's volumes before painting are
the truth (:func:`wmhmap.brainvolumes.brain_volumes`, its own expert lesions filled in
every run); the painted scan is measured without and with its painted lesions filled
(with the mean of the white-matter class of the scan unfilled, as the workflow fills:
there from the atlas propagation's classes, here from Atropos run on it, so the seconds
printed hold two Atropos runs).
Prints, per pair and as medians over pairs, each class's error in mL and the ratio of
the median absolute GM and WM errors without / with filling.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_regions import data_dirs, load_config, load_jhu_atlas

PAIRS = ("11:2 17:4 11:4 17:2 11:0 17:19 101:104 101:105 102:103 102:104 100:105").split()
"""receiver:donor, receivers with 2.5-6.3 mL of lesions, donors with 6-33 mL on the same
grid (Utrecht 240 x 240 x 48; Amsterdam GE3T 132 x 256 x 83)."""

CLASSES = ("csf", "gm", "wm")


@functools.cache
def prepared(subject: str):  # type: ignore[no-untyped-def]
    """The workflow's preprocessing and propagation of one subject, its expert lesions,
    its atlas white matter carried onto it and its deep-white-matter core."""
    from wmhmap.atlas import PropagationSettings, propagate_atlas
    from wmhmap.brainvolumes import atlas_white_matter_core
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.preprocess import N4Settings, apply_linear, prepare_scan

    scans, jhu = data_dirs()
    config, atlas = load_config(), load_jhu_atlas(jhu)
    folder = scans / subject
    scan = prepare_scan(
        nib.load(folder / "T1.nii.gz"),
        N4Settings.from_config(config["preprocess"]["n4"]),
        subject=subject,
    )
    settings = PropagationSettings.from_config(config)
    fit = propagate_atlas(atlas, scan.image, scan.image, scan.brain, None, settings)
    wm = apply_linear(atlas.white_matter, scan.image, [fit.atlas_to_subject], interpolation="mask")
    core = atlas_white_matter_core(np.asarray(wm.dataobj) > 0, scan.image)
    lesions = np.asarray(reorient_to_ras(nib.load(folder / "wmh.nii.gz")).dataobj) == 1
    return scan, fit.atlas_to_subject, atlas.white_matter, core, lesions


def run_pair(pair: str) -> dict:
    from wmhmap.brainvolumes import brain_volumes, segment_tissues
    from wmhmap.imageio import like, voxel_volume_mm3

    receiver, donor = pair.split(":")
    scan, to_t1, atlas_wm, core, own = prepared(receiver)
    d_scan, _, _, d_core, d_lesions = prepared(donor)
    brain = np.asarray(scan.brain.dataobj) > 0
    data = np.asarray(scan.image.dataobj, dtype=np.float32)
    d_data = np.asarray(d_scan.image.dataobj, dtype=np.float32)
    d_brain = np.asarray(d_scan.brain.dataobj) > 0
    # painted only where the receiver has white matter and no lesion of its own
    white = segment_tissues(scan.image, brain, white_matter_core=core).posteriors["wm"] > 0.5
    painted = d_lesions & white & ~own & brain
    relative = d_data / float(np.median(d_data[d_core & d_brain & ~d_lesions]))
    normal_wm = float(np.median(data[core & brain & ~own]))
    paint = data.copy()
    paint[painted] = relative[painted] * normal_wm

    def measure(image: np.ndarray, lesions: np.ndarray) -> dict[str, float]:
        volumes = brain_volumes(
            like(image, scan.image, np.float32),
            scan.brain,
            to_t1,
            atlas_white_matter=atlas_wm,
            lesions=lesions.astype(np.float32),
        )
        return {k: getattr(volumes, f"{k}_mm3") / 1000 for k in CLASSES}

    start = time.perf_counter()
    truth = measure(data, own)
    without = measure(paint, own)
    filled = measure(paint, own | painted)
    return {
        "pair": pair,
        "painted_ml": float(painted.sum() * voxel_volume_mm3(scan.image) / 1000),
        "lesion_t1": float(np.median(relative[painted])),
        **{f"{k}_ml": truth[k] for k in CLASSES},
        **{f"{k}_without": without[k] - truth[k] for k in CLASSES},
        **{f"{k}_filled": filled[k] - truth[k] for k in CLASSES},
        "seconds": (time.perf_counter() - start) / 3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS), help="receiver:donor")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_pair, args.pairs))
    print("pair      painted  lesion/WM  error without filling (CSF GM WM mL)  with filling")
    for r in rows:
        without = " ".join(f"{r[f'{k}_without']:+6.2f}" for k in CLASSES)
        filled = " ".join(f"{r[f'{k}_filled']:+6.2f}" for k in CLASSES)
        print(
            f"{r['pair']:<9} {r['painted_ml']:5.1f} mL  {r['lesion_t1']:.2f}  {without}   {filled}"
        )
    for k in CLASSES:
        without = statistics.median(abs(r[f"{k}_without"]) for r in rows)
        filled = statistics.median(abs(r[f"{k}_filled"]) for r in rows)
        print(
            f"{k.upper():>3}: median |error| {without:.2f} mL without filling, {filled:.2f} mL "
            f"with (ratio {without / max(filled, 1e-9):.1f}); largest "
            f"{max(abs(r[f'{k}_without']) for r in rows):.2f} / "
            f"{max(abs(r[f'{k}_filled']) for r in rows):.2f} mL"
        )
    seconds = statistics.median(r["seconds"] for r in rows)
    print(f"median seconds per brain-volume measure: {seconds:.1f}")


if __name__ == "__main__":
    main()
