"""Preprocessing and atlas propagation on real scans, against the study's own region maps.

Run: ``.venv/bin/python benchmarks/bench_real_regions.py [--subjects 0 50 104] [--jobs 1]``
(``WMHMAP_REAL_SCANS_DIR`` and ``WMHMAP_JHU_ATLAS_DIR`` point at ``../shared/data``;
their defaults are those folders.)

For each of the 20 MICCAI 2017 WMH-challenge training subjects (three scanners; T1 on
the FLAIR grid, about 1 x 1 x 3 mm, skull and neck as acquired) it runs the workflow's
own steps, one thread: reorientation, brain extraction, N4 (``prepare_scan``), the
JHU atlas build (``build_atlas_labels``) and its propagation (``propagate_atlas``, the
config's settings), then compares the region map with ``regions_study.nii.gz``, the map
the study's authors made for that subject, inside their white matter (labels 1-36):

- ``agreement``: share of their white-matter voxels to which our map gives their label;
- ``parcels``: the same for our whole-parcel map (the registration alone);
- ``dice``: mean Dice of our map against theirs over the 34 regions;
- ``dice_study_wm``: the same for our whole parcels cut to *their* white matter, which
  parts the registration's share of the error from the tissue classes' (``wm_ml`` and
  ``study_wm_ml``: the two white-matter volumes, 35/36 included);
- ``icv_ml``, ``brain_dice`` (the QC's fit measure), ``fov_edge_mm2`` (the brain mask's
  largest area in an outermost slice, where the scan cut the brain off: ``fov_edge``),
  ``flags`` and seconds;
- ``ventricles_ml``: the lateral ventricles the zones are measured from (``zone_maps``
  on the JHU zone prior, as ``map_zones`` runs it), and ``ventricles_infra_ml``, the
  part of them within 3 mm of the infratentorial prior (cisterns round the brainstem,
  which are not ventricle).

Each scan's contrast, ``wm_gm_ratio`` (the atlas's deep white matter over its grey
matter: :func:`wmhmap.atlas.white_grey_ratio`) and ``bright_wm_ratio`` (its brightest 5 %
of the brain over its white matter, where a T2w's CSF would show:
:func:`wmhmap.atlas.bright_white_ratio`), is in the rows and the QC flags. Three
real FLAIRs go through as subjects without a T1w, and two scans in the other
modality's column (``MISPLACED``), which the QC must flag.

Each T1w classic method of ``classic.methods`` (``t1z``) is scored against the expert
WMH mask (``<method>_dice``, ``<method>_ml`` beside ``expert_ml``): on real T1w it
marks a median 33 mL, nearly all of it outside the lesions (2026-12-07).

Then the expert WMH masks (``wmh.nii.gz``, label 1) counted in our regions (lesion
voxels counted as white matter, as the loads do) and in the study's, with the loads
code of the workflow: per-region Pearson r over subjects, and the total load in the 34
regions as a ratio of the study's; also restricted to the lesion voxels the study's map
puts in white matter (its tissue segmentation leaves 6-58 % of the lesions out).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CHALLENGE = "wmh_challenge_train"


def data_dirs() -> tuple[Path, Path]:
    scans = Path(os.environ.get("WMHMAP_REAL_SCANS_DIR", SHARED / "real_scans")) / CHALLENGE
    jhu = Path(os.environ.get("WMHMAP_JHU_ATLAS_DIR", SHARED / "jhu_eve_atlas"))
    return scans, jhu


@functools.cache
def load_jhu_atlas(jhu: Path):  # type: ignore[no-untyped-def]
    """The 34-region JHU atlas as the workflow's build_jhu_atlas rule makes it (built
    once per process: 1.4 s)."""
    from wmhmap.atlas import jhu_atlas
    from wmhmap.regions import load_region_table

    t1 = nib.load(jhu / "JHU_MNI_SS_T1_brain.nii.gz")
    return jhu_atlas(
        nib.Nifti1Image(t1.get_fdata(dtype=np.float32), t1.affine),
        nib.load(jhu / "JHU_MNI_SS_WMPM_Type-II.nii.gz"),
        nib.load(jhu / "JHU_MNI_SS_T1_mask.nii.gz"),
        nib.load(jhu / "JHU_MNI_SS_T1_Tissue_Classes.nii.gz"),
        load_region_table(),
    )


@functools.cache
def load_jhu_zone_prior(jhu: Path) -> nib.Nifti1Image:
    """The JHU zone prior as the workflow's build_jhu_atlas rule makes it."""
    from wmhmap.geometry import voxel_sizes
    from wmhmap.imageio import like
    from wmhmap.zoneprior import jhu_zone_prior

    type2 = nib.load(jhu / "JHU_MNI_SS_WMPM_Type-II.nii.gz")
    prior = jhu_zone_prior(
        type2.dataobj,
        nib.load(jhu / "JHU_MNI_SS_T1_Tissue_Classes.nii.gz").dataobj,
        nib.load(jhu / "JHU_MNI_SS_T1_mask.nii.gz").dataobj,
        voxel_sizes(type2),
    )
    return like(prior, type2, np.uint8)


def ventricle_volumes(
    config: dict, result: Any, scan: Any, jhu: Path, table: Any
) -> dict[str, float]:
    """The zone maps' lateral ventricles (mL) and their part within 3 mm of the
    infratentorial prior, as the workflow's map_zones rule makes them."""
    from wmhmap.geometry import voxel_sizes
    from wmhmap.preprocess import apply_linear
    from wmhmap.zoneprior import INFRATENTORIAL
    from wmhmap.zones import BullseyeSettings, PvDeepSettings, distance_mm, zone_maps

    zones = config["zones"]
    zooms = voxel_sizes(scan.image)
    prior = np.asarray(
        apply_linear(
            load_jhu_zone_prior(jhu), scan.image, [result.atlas_to_subject], interpolation="label"
        ).dataobj
    ).astype(np.uint8)
    maps = zone_maps(
        np.asarray(result.labels.dataobj) > 0,
        np.asarray(scan.brain.dataobj) > 0,
        prior,
        np.asarray(result.parcels.dataobj).astype(np.uint8),
        table,
        zooms,
        pvdeep=PvDeepSettings(bands_mm=tuple(zones["pvdeep"]["bands_mm"])),
        bullseye=BullseyeSettings(
            lobes={k: tuple(v) for k, v in zones["bullseye"]["lobes"].items()}
        ),
        t1w=np.asarray(scan.image.dataobj),
    )
    voxel_ml = float(np.prod(zooms)) / 1000
    near_infra = distance_mm(prior == INFRATENTORIAL, zooms) <= 3.0
    return {
        "ventricles_ml": float(maps.ventricles.sum() * voxel_ml),
        "ventricles_infra_ml": float((maps.ventricles & near_infra).sum() * voxel_ml),
    }


def load_config(overrides: dict | None = None) -> dict:
    """config/config.yaml, with ``section.key`` overrides."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for key, value in (overrides or {}).items():
        section, name = key.split(".")
        config[section][name] = value
    return config


def run_subject(subject: str, overrides: dict | None = None) -> dict:
    """Preprocess and propagate one subject; score its maps and loads against the study's."""
    from wmhmap.atlas import PropagationSettings, propagate_atlas
    from wmhmap.brainvolumes import tissue_columns
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.loads import lesions_count_as_white_matter, regional_loads
    from wmhmap.metrics import label_agreement, region_dice
    from wmhmap.preprocess import N4Settings, prepare_scan
    from wmhmap.qc import QcThresholds, fov_edge, region_volume_extremes, registration_flags
    from wmhmap.regions import load_region_table

    scans, jhu = data_dirs()
    config = load_config(overrides)
    table = load_region_table()
    atlas = load_jhu_atlas(jhu)
    folder = scans / subject
    start = time.perf_counter()
    scan = prepare_scan(
        nib.load(folder / "T1.nii.gz"),
        N4Settings.from_config(config["preprocess"]["n4"]),
        subject=subject,
    )
    propagation_settings = PropagationSettings.from_config(config)
    qc_settings = QcThresholds.from_config(config["qc"])
    result = propagate_atlas(atlas, scan.image, scan.image, scan.brain, None, propagation_settings)
    seconds = time.perf_counter() - start

    ours = np.asarray(result.labels.dataobj).astype(np.int64)
    parcels = np.asarray(result.parcels.dataobj).astype(np.int64)
    theirs = np.asarray(reorient_to_ras(nib.load(folder / "regions_study.nii.gz")).dataobj)
    theirs = theirs.astype(np.int64)
    expert = np.asarray(reorient_to_ras(nib.load(folder / "wmh.nii.gz")).dataobj) == 1
    voxel_mm3 = float(np.prod(scan.image.header.get_zooms()[:3]))
    study_wm = theirs > 0
    extremes = region_volume_extremes(
        result.labels,
        scan.brain,
        atlas,
        table.ids,
        white_matter_map=propagation_settings.region_map == "white_matter",
    )
    edge = fov_edge({"T1w": scan.brain})
    flags = registration_flags(
        {
            **result.quality,
            "icv_ml": scan.brain_ml,
            "t1w_wm_gm_ratio": result.quality["wm_gm_ratio"],
            "t1w_bright_wm_ratio": result.quality["bright_wm_ratio"],
            **tissue_columns(result.tissue_mm3),
            **extremes,
            **edge,
        },
        qc_settings,
        subject=subject,
    )

    def loads(regions: np.ndarray, mask: np.ndarray) -> list[float]:
        long = regional_loads(mask, regions, table, voxel_volume_mm3=voxel_mm3, subject=subject)
        return long.lesion_mm3.to_numpy()[:-1].tolist()  # the 34 regions, no outside row

    counted = lesions_count_as_white_matter(ours, parcels, expert, table)
    return {
        **t1w_classic_scores(config, scan, result, expert),
        "subject": subject,
        "agreement": label_agreement(ours, theirs, study_wm),
        "parcels": label_agreement(parcels, theirs, study_wm),
        "dice": float(region_dice(ours, theirs, table).dice.mean()),
        "dice_study_wm": float(
            region_dice(np.where(study_wm, parcels, 0), theirs, table).dice.mean()
        ),
        "wm_ml": float((ours > 0).sum() * voxel_mm3 / 1000),
        "study_wm_ml": float(study_wm.sum() * voxel_mm3 / 1000),
        "icv_ml": scan.brain_ml,
        "brain_dice": result.quality["brain_dice"],
        "correlation": result.quality["correlation"],
        "rotation_search": result.quality["rotation_search"],
        "wm_gm_ratio": result.quality["wm_gm_ratio"],
        "bright_wm_ratio": result.quality["bright_wm_ratio"],
        **tissue_columns(result.tissue_mm3),
        **extremes,
        **edge,
        "flags": "; ".join(f.reason for f in flags) or "-",
        "seconds": seconds,
        **ventricle_volumes(config, result, scan, jhu, table),
        "loads_ours": loads(counted, expert),
        "loads_study": loads(theirs, expert),
        "loads_ours_in_study_wm": loads(counted, expert & study_wm),
    }


def t1w_classic_scores(config: dict, scan, result, expert: np.ndarray) -> dict:  # type: ignore[no-untyped-def]
    """Each T1w method of ``classic.methods`` (the workflow's classic mask on the atlas
    white matter) against the expert WMH mask: ``<method>_dice``, ``<method>_ml``."""
    from wmhmap.classic import classic_mask, methods_from_config
    from wmhmap.metrics import dice

    spacing = tuple(float(v) for v in scan.image.header.get_zooms()[:3])
    voxel_ml = float(np.prod(spacing)) / 1000
    scores: dict[str, float] = {"expert_ml": float(expert.sum() * voxel_ml)}
    for method in methods_from_config(config["classic"]["methods"]):
        if method.modality != "T1w":
            continue
        mask = classic_mask(
            np.asarray(scan.image.dataobj, dtype=np.float32),
            np.asarray(result.white_matter.dataobj) > 0,
            method,
            spacing=spacing,
            brain=np.asarray(scan.brain.dataobj) > 0,
            min_lesion_mm3=config["classic"]["min_lesion_mm3"],
        )
        scores[f"{method.name}_dice"] = dice(expert, mask)
        scores[f"{method.name}_ml"] = float(mask.sum() * voxel_ml)
    return scores


FLAIR_SCANS = ("lesion_flair/isbi01", "lesion_flair/isbi02", "lesion_flair/lesjak07")
"""Real FLAIRs registered without a T1w: ISBI raw (skull, neck, 0.8 x 0.8 x 4.4 and
2.2 mm slices) and a skull-stripped MNI FLAIR."""


MISPLACED = (
    ("lesion_flair/isbi02/FLAIR.nii.gz", "T1w"),
    ("lesion_flair/lesjak07/T1w.nii.gz", "FLAIR"),
)
"""A FLAIR given as the T1w (the FLAIR whose white matter is brightest against its grey
matter: the hardest to tell) and a T1w given as the FLAIR, a subject's only scan."""


def prepare_flair(path: Path, config: dict, subject: str, modality: str = "FLAIR"):  # type: ignore[no-untyped-def]
    """A FLAIR through the workflow's preprocessing and JHU atlas propagation (FLAIR-only
    subject): ``(PreparedScan, Propagation)``; ``modality`` is the column it was given in."""
    from wmhmap.atlas import PropagationSettings, propagate_atlas
    from wmhmap.preprocess import N4Settings, prepare_scan

    prepared = prepare_scan(
        nib.load(path),
        N4Settings.from_config(config["preprocess"]["n4"]),
        subject=subject,
        file=path,
    )
    result = propagate_atlas(
        load_jhu_atlas(data_dirs()[1]),
        prepared.image,
        prepared.image,
        prepared.brain,
        None,
        PropagationSettings.from_config(config),
        modality=modality,
    )
    return prepared, result


def run_flair(scan: str) -> dict:
    """A FLAIR-only subject: preprocessing, propagation and QC flags (no reference map)."""
    from wmhmap.qc import QcThresholds, fov_edge, registration_flags

    scans, _ = data_dirs()
    config = load_config()
    start = time.perf_counter()
    prepared, result = prepare_flair(scans.parent / scan / "FLAIR.nii.gz", config, scan)
    edge = fov_edge({"FLAIR": prepared.brain})
    ratio, bright = result.quality["wm_gm_ratio"], result.quality["bright_wm_ratio"]
    flags = registration_flags(
        {
            **result.quality,
            "icv_ml": prepared.brain_ml,
            "flair_wm_gm_ratio": ratio,
            "flair_bright_wm_ratio": bright,
            **edge,
        },
        QcThresholds.from_config(config["qc"]),
    )
    return {
        "scan": scan,
        "icv_ml": prepared.brain_ml,
        "contrast_kept": prepared.contrast_kept,
        "brain_dice": result.quality["brain_dice"],
        "wm_gm_ratio": ratio,
        "bright_wm_ratio": bright,
        **edge,
        "flags": "; ".join(f.reason for f in flags) or "-",
        "seconds": time.perf_counter() - start,
    }


def run_misplaced(item: tuple[str, str]) -> dict:
    """A scan given in the other modality's column, as the only scan of its subject:
    the contrast measure of that column and the QC's flags."""
    from wmhmap.qc import QcThresholds, registration_flags

    scan, column = item
    scans, _ = data_dirs()
    config = load_config()
    prepared, result = prepare_flair(scans.parent / scan, config, scan, modality=column)
    ratio = result.quality["wm_gm_ratio"]
    flags = registration_flags(
        {
            **result.quality,
            "icv_ml": prepared.brain_ml,
            f"{column.lower()}_wm_gm_ratio": ratio,
            f"{column.lower()}_bright_wm_ratio": result.quality["bright_wm_ratio"],
        },
        QcThresholds.from_config(config["qc"]),
    )
    return {
        "scan": scan,
        "column": column,
        "wm_gm_ratio": ratio,
        "flags": "; ".join(f.reason for f in flags) or "-",
    }


def pearson_by_region(ours: np.ndarray, theirs: np.ndarray) -> list[float]:
    """Pearson r over subjects of each region's load (regions with loads in both)."""
    r = []
    for k in range(ours.shape[1]):
        if ours[:, k].std() > 0 and theirs[:, k].std() > 0:
            r.append(float(np.corrcoef(ours[:, k], theirs[:, k])[0, 1]))
    return r


def summarize(rows: list[dict]) -> dict:
    ours = np.array([r["loads_ours"] for r in rows])
    study = np.array([r["loads_study"] for r in rows])
    in_wm = np.array([r["loads_ours_in_study_wm"] for r in rows])
    return {
        "subjects": len(rows),
        "agreement_median": statistics.median(r["agreement"] for r in rows),
        "agreement_min": min(r["agreement"] for r in rows),
        "parcels_median": statistics.median(r["parcels"] for r in rows),
        "dice_median": statistics.median(r["dice"] for r in rows),
        "dice_study_wm_median": statistics.median(r["dice_study_wm"] for r in rows),
        "wm_ml_median": statistics.median(r["wm_ml"] for r in rows),
        "ventricles_ml_range": (
            min(r["ventricles_ml"] for r in rows),
            max(r["ventricles_ml"] for r in rows),
        ),
        "ventricles_infra_ml_median": statistics.median(r["ventricles_infra_ml"] for r in rows),
        "ventricles_infra_ml_max": max(r["ventricles_infra_ml"] for r in rows),
        "study_wm_ml_median": statistics.median(r["study_wm_ml"] for r in rows),
        "cut_by_fov": [r["subject"] for r in rows if "field of view" in r["flags"]],
        "below_070_unflagged": [
            r["subject"] for r in rows if r["agreement"] < 0.70 and r["flags"] == "-"
        ],
        "icv_ml_range": (min(r["icv_ml"] for r in rows), max(r["icv_ml"] for r in rows)),
        "seconds_median": statistics.median(r["seconds"] for r in rows),
        "load_r_median": statistics.median(pearson_by_region(ours, study)),
        "total_load_ratio": float(ours.sum() / study.sum()),
        "load_r_median_in_study_wm": statistics.median(pearson_by_region(in_wm, study)),
        "total_load_ratio_in_study_wm": float(in_wm.sum() / study.sum()),
        "expert_ml_median": statistics.median(r["expert_ml"] for r in rows),
        **{
            f"{key}_median": statistics.median(r[key] for r in rows)
            for key in rows[0]
            if key.endswith(("_dice", "_ml")) and key.split("_")[0] in t1w_method_names()
        },
    }


def t1w_method_names() -> list[str]:
    return [
        name
        for name, method in load_config()["classic"]["methods"].items()
        if method["modality"] == "T1w"
    ]


def main() -> None:
    from wmhmap.qc import white_matter_share

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", nargs="*", help="default: all 20")
    parser.add_argument("--jobs", type=int, default=1, help="subjects side by side")
    parser.add_argument("--json", type=Path, help="write every row and the summary here")
    args = parser.parse_args()
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    scans, _ = data_dirs()
    if not scans.is_dir():
        sys.exit(f"no real scans at {scans}: set WMHMAP_REAL_SCANS_DIR")
    subjects = args.subjects or sorted((p.name for p in scans.iterdir()), key=int)
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_subject, subjects))
        flair_rows = list(pool.map(run_flair, FLAIR_SCANS))
        misplaced = list(pool.map(run_misplaced, MISPLACED))
    print(
        "subject  agreement  parcels  dice   in study WM  ICV mL  WM %  brain_dice  corr   "
        "region ratio min-max  edge mm2  s     flags"
    )
    for r in rows:
        print(
            f"{r['subject']:>7}  {r['agreement']:9.3f}  {r['parcels']:7.3f}  {r['dice']:.3f}"
            f"  {r['dice_study_wm']:11.3f}"
            f"  {r['icv_ml']:6.0f}  {100 * white_matter_share(r):4.1f}"
            f"  {r['brain_dice']:10.3f}  {r['correlation']:5.2f}"
            f"  {r['region_ratio_min']:5.2f} ({r['region_min']:2d})-"
            f"{r['region_ratio_max']:4.2f} ({r['region_max']:2d})"
            f"  {r['fov_edge_mm2']:8.0f}  {r['seconds']:4.1f}  {r['flags']}"
        )
    summary = summarize(rows)
    for key, value in summary.items():
        print(f"{key}: {value}")
    print("\nFLAIR-only (no T1w)       ICV mL  N4 kept  brain_dice  edge mm2  s     flags")
    for r in flair_rows:
        print(
            f"{r['scan']:<24}  {r['icv_ml']:6.0f}  {r['contrast_kept']:7.2f}"
            f"  {r['brain_dice']:10.3f}  {r['fov_edge_mm2']:8.0f}  {r['seconds']:4.1f}"
            f"  {r['flags']}"
        )
    print("\nIn the other column (the only scan)          wm/gm  flags")
    for r in misplaced:
        print(f"{r['scan']:<34} as {r['column']:<5}  {r['wm_gm_ratio']:5.2f}  {r['flags']}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"rows": rows, "summary": summary, "flair": flair_rows, "misplaced": misplaced},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
