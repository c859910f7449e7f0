"""The classic (training-free) WMH segmenters on real FLAIR, against the experts.

Run: ``.venv/bin/python benchmarks/bench_real_flair.py [--methods flairz flairpct flairhyst]``
(``WMHMAP_REAL_SCANS_DIR`` and ``WMHMAP_JHU_ATLAS_DIR`` point at ``../shared/data``;
their defaults are those folders.)

On the three FLAIRs of ``real_scans/lesion_flair`` (ISBI 2015 training01/02: raw, with
skull, 0.8 x 0.8 x 4.4 mm, two raters; Lesjak 2018 patient 7: skull-stripped MNI 1 mm,
a three-rater consensus) it runs the workflow's own steps, one thread: reorientation,
brain extraction and N4 (``prepare_scan``), the JHU atlas propagation on the FLAIR
(``propagate_atlas``, whose atlas white matter is the classic methods' search mask), and
every FLAIR method of ``classic.methods`` in config/config.yaml (``classic_mask`` with
``classic.min_lesion_mm3``) plus the STAPLE consensus of the FLAIR methods of
``classic.use`` (the workflow's silver mask until 2026-12-07; since then the silver mask
is the consensus of ``classic.silver``, by default ``flairhyst`` alone). Prints each
mask's volume and Dice against each rater, beside the inter-rater Dice, and the median
and minimum over the five (scan, rater) pairs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_real_regions import data_dirs, load_config, prepare_flair  # noqa: E402

SCANS = ("isbi01", "isbi02", "lesjak07")


def expert_masks(folder: Path) -> dict[str, Path]:
    raters = sorted(folder.glob("lesion_mask_rater*.nii.gz"))
    if raters:
        return {p.name.removeprefix("lesion_mask_").removesuffix(".nii.gz"): p for p in raters}
    return {"consensus": folder / "lesion_mask.nii.gz"}


def run_scan(scan: str, names: list[str]) -> list[dict]:
    import nibabel as nib

    from wmhmap.classic import classic_mask, methods_from_config, staple
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.imageio import same_grid
    from wmhmap.metrics import dice

    scans, _ = data_dirs()
    folder = scans.parent / "lesion_flair" / scan
    config = load_config()
    start = time.perf_counter()
    prepared, result = prepare_flair(folder / "FLAIR.nii.gz", config, scan)
    prepare_s = time.perf_counter() - start
    image = np.asarray(prepared.image.dataobj, dtype=np.float32)
    spacing = tuple(float(v) for v in prepared.image.header.get_zooms()[:3])
    brain = np.asarray(prepared.brain.dataobj) > 0
    wm = np.asarray(result.white_matter.dataobj) > 0
    experts = {}
    for rater, path in expert_masks(folder).items():
        mask = reorient_to_ras(nib.load(path))
        assert same_grid(mask, prepared.image), f"{scan} {rater}: not on the FLAIR grid"
        experts[rater] = np.asarray(mask.dataobj) > 0
    classic = config["classic"]
    methods = {
        m.name: m
        for m in methods_from_config(classic["methods"])
        if m.modality == "FLAIR" and (not names or m.name in names)
    }
    masks = {
        name: classic_mask(
            image,
            wm,
            method,
            spacing=spacing,
            brain=brain,
            min_lesion_mm3=classic["min_lesion_mm3"],
        )
        for name, method in methods.items()
    }
    used = [n for n in classic["use"] if n in masks]
    if len(used) > 1:
        masks[f"STAPLE ({'+'.join(used)})"] = staple([masks[n] for n in used]).mask
    voxel_ml = float(np.prod(spacing)) / 1000
    rows = []
    print(f"\n{scan}: preprocessing and atlas {prepare_s:.0f} s")
    if len(experts) == 2:
        a, b = experts.values()
        print(f"  inter-rater Dice {dice(a, b):.3f}")
    print("  expert mL: " + ", ".join(f"{r} {m.sum() * voxel_ml:.1f}" for r, m in experts.items()))
    for name, mask in masks.items():
        scores = {rater: dice(truth, mask) for rater, truth in experts.items()}
        shown = "  ".join(f"{r} {d:.3f}" for r, d in scores.items())
        print(f"  {name:>28}: {mask.sum() * voxel_ml:6.1f} mL  Dice {shown}")
        rows += [{"scan": scan, "rater": r, "method": name, "dice": d} for r, d in scores.items()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="*", default=[], help="only these (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    rows = [row for scan in SCANS for row in run_scan(scan, args.methods)]
    print("\nover the (scan, rater) pairs:")
    for method in dict.fromkeys(r["method"] for r in rows):
        values = [r["dice"] for r in rows if r["method"] == method]
        print(
            f"  {method:>28}: median {statistics.median(values):.3f}  min {min(values):.3f}"
            f"  ({len(values)} pairs)"
        )


if __name__ == "__main__":
    main()
