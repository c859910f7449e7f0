"""Zone maps (periventricular / deep, bullseye) on real scans and on a finished demo run.

Run: ``.venv/bin/python benchmarks/bench_zones.py [--subjects 0 50 104] [--jobs 2]``
     ``.venv/bin/python benchmarks/bench_zones.py --results results`` (a finished demo run)

Real scans (``WMHMAP_REAL_SCANS_DIR``, ``WMHMAP_JHU_ATLAS_DIR``; defaults under
``../shared/data``): each of the 20 WMH-challenge subjects is preprocessed and the JHU
atlas propagated as in ``bench_real_regions.py``; then the workflow's zone step
(``map_zones``: the atlas's zone prior carried by the atlas transform, ventricles from
the T1w, both schemes) and the zone loads of the expert WMH mask are timed. Prints per
subject the added seconds, ventricle and white-matter volumes, the bullseye zones
present, and the periventricular share of the expert lesions, then the median time.

Demo (``--results``): the same zone step on every subject of a finished run, timed, and
the periventricular share of the true lesions against the share by the simulation's
true ventricles.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from bench_real_regions import data_dirs, load_config, load_jhu_atlas, load_jhu_zone_prior


def zone_step(white_matter, brain, prior_img, xfm, parcels, reference, t1w, config, lesions):  # type: ignore[no-untyped-def]
    """What the map_zones rule and the loads' zone rows do, timed."""
    import nibabel as nib
    import pandas as pd

    from wmhmap.geometry import voxel_sizes
    from wmhmap.loads import zone_loads
    from wmhmap.preprocess import apply_linear
    from wmhmap.regions import load_region_table
    from wmhmap.zones import BullseyeSettings, PvDeepSettings, zone_maps

    start = time.perf_counter()
    zooms = voxel_sizes(reference)
    prior = apply_linear(prior_img, reference, xfm, interpolation="label")
    maps = zone_maps(
        white_matter,
        brain,
        np.asarray(prior.dataobj).astype(np.uint8),
        parcels,
        load_region_table(),
        zooms,
        pvdeep=PvDeepSettings.from_config(config["zones"]["pvdeep"]),
        bullseye=BullseyeSettings.from_config(config["zones"]["bullseye"]),
        t1w=t1w,
    )
    lesion_img = nib.Nifti1Image(lesions.astype(np.uint8), reference.affine)
    rows = pd.DataFrame({"subject": ["s"]})
    for scheme in ("pvdeep", "bullseye"):
        rows = zone_loads(rows, scheme, getattr(maps, scheme), lesion_img, None, brain)
    seconds = time.perf_counter() - start
    pv = rows[rows.scheme == "pvdeep"].set_index("region_name").lesion_mm3
    voxel_ml = float(np.prod(zooms)) / 1000
    return maps, {
        "zone_seconds": seconds,
        "ventricles_ml": float(maps.ventricles.sum() * voxel_ml),
        "white_matter_ml": float(maps.white_matter.sum() * voxel_ml),
        "bullseye_zones": len(np.unique(maps.bullseye[maps.bullseye > 0])),
        "bullseye_covers_wm": float((maps.bullseye > 0).sum() / max((maps.pvdeep > 0).sum(), 1)),
        "pv_share": float(pv["periventricular"] / pv.sum()) if pv.sum() > 0 else float("nan"),
        "lesion_ml": float(lesions.sum() * voxel_ml),
    }


def run_real(subject: str) -> dict:
    import nibabel as nib

    from wmhmap.atlas import PropagationSettings, propagate_atlas
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.preprocess import N4Settings, normalize_percentiles, prepare_scan

    scans, jhu = data_dirs()
    config = load_config()
    atlas = load_jhu_atlas(jhu)
    folder = scans / subject
    scan = prepare_scan(
        nib.load(folder / "T1.nii.gz"),
        N4Settings.from_config(config["preprocess"]["n4"]),
        subject=subject,
    )
    result = propagate_atlas(
        atlas, scan.image, scan.image, scan.brain, None, PropagationSettings.from_config(config)
    )
    brain = np.asarray(scan.brain.dataobj) > 0
    t1w = np.asarray(
        normalize_percentiles(
            scan.image, brain, *config["preprocess"]["normalize_percentiles"]
        ).dataobj
    )
    expert = np.asarray(reorient_to_ras(nib.load(folder / "wmh.nii.gz")).dataobj) == 1
    _, row = zone_step(
        np.asarray(result.labels.dataobj) > 0,
        brain,
        load_jhu_zone_prior(jhu),
        [result.atlas_to_subject],
        np.asarray(result.parcels.dataobj).astype(np.uint8),
        scan.image,
        t1w,
        config,
        expert,
    )
    return {"subject": subject, **row}


def run_demo(results: Path, subject: str) -> dict:
    import nibabel as nib

    from wmhmap.demo.anatomy import load_template
    from wmhmap.demo.atlas import parcellate_white_matter, zone_prior
    from wmhmap.preprocess import LinearTransform
    from wmhmap.zones import distance_mm

    config = load_config()
    template = load_template()
    prior = template.image(zone_prior(template, parcellate_white_matter(template)), np.uint8)
    anat = results / f"sub-{subject}" / "anat"
    grid = f"sub-{subject}_space-FLAIR_"
    brain_img = nib.load(anat / f"{grid}desc-brain_mask.nii.gz")
    truth = results / "demo" / "truth" / f"sub-{subject}" / "anat"
    lesions = (
        np.asarray(
            nib.as_closest_canonical(
                nib.load(truth / f"sub-{subject}_label-WMH_desc-truth_mask.nii.gz")
            ).dataobj
        )
        > 0
    )
    _, row = zone_step(
        np.asarray(nib.load(anat / f"{grid}desc-atlas_dseg.nii.gz").dataobj) > 0,
        np.asarray(brain_img.dataobj) > 0,
        prior,
        [
            LinearTransform.read(
                results / f"sub-{subject}/xfm/sub-{subject}_from-atlas_to-FLAIR_mode-image_xfm.mat"
            )
        ],
        np.asarray(nib.load(anat / f"{grid}desc-parcels_dseg.nii.gz").dataobj).astype(np.uint8),
        brain_img,
        np.asarray(nib.load(anat / f"{grid}desc-preproc_T1w.nii.gz").dataobj),
        config,
        lesions,
    )
    true_ventricles = truth / f"sub-{subject}_label-ventricles_desc-truth_mask.nii.gz"
    if true_ventricles.is_file():
        v = np.asarray(nib.as_closest_canonical(nib.load(true_ventricles)).dataobj) > 0
        zooms = brain_img.header.get_zooms()[:3]
        row["pv_share_truth"] = float((distance_mm(v, zooms)[lesions] <= 10).mean())
    return {"subject": subject, **row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", nargs="*", help="default: every subject")
    parser.add_argument("--jobs", type=int, default=1, help="subjects side by side")
    parser.add_argument("--results", type=Path, help="a finished demo run (else: real scans)")
    args = parser.parse_args()
    if args.results:
        subjects = args.subjects or sorted(
            p.name.removeprefix("sub-") for p in args.results.glob("sub-*")
        )
        tasks = [(run_demo, args.results, s) for s in subjects]
    else:
        scans, _ = data_dirs()
        subjects = args.subjects or sorted((p.name for p in scans.iterdir()), key=int)
        tasks = [(run_real, s) for s in subjects]
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(*task) for task in tasks]
        rows = []
        for future in futures:
            row = future.result()
            rows.append(row)
            print(
                "\t".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                ),
                flush=True,
            )
    seconds = [r["zone_seconds"] for r in rows]
    print(
        f"zone step per subject: median {statistics.median(seconds):.2f} s, "
        f"max {max(seconds):.2f} s"
    )
    if all("pv_share_truth" in r for r in rows):
        diff = [abs(r["pv_share"] - r["pv_share_truth"]) for r in rows]
        print(
            f"periventricular share vs truth: median |diff| {statistics.median(diff):.3f}, "
            f"max {max(diff):.3f}"
        )
    print(f"bullseye zones present: min {min(r['bullseye_zones'] for r in rows)} of 36")


if __name__ == "__main__":
    main()
