"""Does the registration QC tell a later visit of the same person from another person's scan?

Run: ``WMHMAP_REAL_SCANS_DIR=... .venv/bin/python benchmarks/bench_visit_pairs.py
[--jobs 2] [--template]`` (81 pairings, two fits each, about 12 minutes on 2 cores;
``--template``: 6 more, about 2 minutes, and ``WMHMAP_JHU_ATLAS_DIR``)

Every real scan of the shared data goes through the workflow's preprocessing
(:func:`wmhmap.preprocess.prepare_scan`): T1w of the four Lesjak visits (two patients,
0.7 x 0.7 x 3 mm, neck), lesjak07 (1 mm, skull-stripped, MNI) and four WMH-challenge
subjects of three scanners (1 x 1 x 3 mm, skull); FLAIRs of the four Lesjak visits,
lesjak07 and the two raw ISBI scans (4.4 mm slices, skull). Three scans also go through
with their slices merged (a follow-up of another protocol): lesjak07's T1w to 4 mm,
its FLAIR to 6 mm, patient 01's first FLAIR to 6 mm. Then every pair of scans of one
modality is compared as the ``compare_visits`` job compares a later visit with the
first (:func:`wmhmap.visits.compare_visits`: a rigid fit and one with a scale, brain
and CSF overlap of the better). A pair is the same scan (merged slices), the same person
at another visit, or another person: a scan filed under the wrong subject or session.

``--template`` also gives the four Lesjak T1w as some cohorts share their scans:
normalised to a template (each fitted affinely to the JHU atlas and resampled onto its
grid) and stripped with one common mask (the atlas's brain mask), so every brain has the
same outline and background. These are compared with each other only
(``T1w-template``).

Prints each pair, then per modality and kind the range of both measures and how many
the QC flags at ``qc.min_visit_csf_dice``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_regions import SHARED, data_dirs, load_config, load_jhu_atlas
from bench_t1w_flair_pairs import thick_slices

if TYPE_CHECKING:
    from wmhmap.preprocess import N4Settings

LESJAK = [(p, s) for p in ("patient01", "patient12") for s in ("study1", "study2")]
CHALLENGE = ("0", "50", "100", "17")  # Utrecht, Singapore, Amsterdam, Utrecht
MERGED = {("T1w", "lesjak07"): 4, ("FLAIR", "lesjak07"): 6, ("FLAIR", "patient01_study1"): 2}
"""Scans also given with this many slices merged into one."""
TEMPLATE = "T1w-template"
"""The Lesjak T1w normalised to the JHU atlas and stripped with its brain mask."""
WORK = Path(tempfile.gettempdir()) / "wmhmap-bench-visits"


def scan_files() -> dict[tuple[str, str], Path]:
    """(modality, scan name) -> file; a scan's name starts with its person."""
    root = Path(os.environ.get("WMHMAP_REAL_SCANS_DIR", SHARED / "real_scans"))
    files = {}
    for p, s in LESJAK:
        folder = root / "lesjak_longitudinal" / p
        files["T1w", f"{p}_{s}"] = folder / f"{s}_T1W.nii.gz"
        files["FLAIR", f"{p}_{s}"] = folder / f"{s}_FLAIR.nii.gz"
    files["T1w", "lesjak07"] = root / "lesion_flair" / "lesjak07" / "T1w.nii.gz"
    files["FLAIR", "lesjak07"] = root / "lesion_flair" / "lesjak07" / "FLAIR.nii.gz"
    for scan in ("isbi01", "isbi02"):
        files["FLAIR", scan] = root / "lesion_flair" / scan / "FLAIR.nii.gz"
    for subject in CHALLENGE:
        files["T1w", f"wmh{subject}"] = root / "wmh_challenge_train" / subject / "T1.nii.gz"
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        sys.exit(f"missing real scans (set WMHMAP_REAL_SCANS_DIR): {missing}")
    return files


def on_template(img: nib.Nifti1Image, name: str, n4: N4Settings) -> nib.Nifti1Image:
    """``img`` as a cohort normalised to a template shares it: fitted affinely (brain onto
    brain) to the JHU atlas, resampled onto its grid, zero outside its brain mask."""
    from wmhmap.imageio import like
    from wmhmap.preprocess import apply_linear, prepare_scan, register_linear

    atlas = load_jhu_atlas(data_dirs()[1])
    scan = prepare_scan(img, n4, subject=name)

    def stripped(image: nib.Nifti1Image, brain: nib.Nifti1Image) -> nib.Nifti1Image:
        data = np.asarray(image.dataobj, dtype=np.float32) * (np.asarray(brain.dataobj) > 0)
        return like(data, image, np.float32)

    fit = register_linear(
        stripped(atlas.t1, atlas.brain_mask), stripped(scan.image, scan.brain), kind="Affine"
    )
    return stripped(apply_linear(scan.image, atlas.t1, [fit]), atlas.brain_mask)


def prepare(item: tuple[str, str, Path, int]) -> str:
    """Preprocess one scan (``merge`` > 0: its slices merged first; the TEMPLATE modality:
    normalised first); saved under WORK."""
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.preprocess import N4Settings, prepare_scan

    modality, name, path, merge = item
    img = nib.load(path)
    if merge:
        img = thick_slices(reorient_to_ras(img), merge)
        name = f"{name}+merged"
    n4 = N4Settings.from_config(load_config()["preprocess"]["n4"])
    if modality == TEMPLATE:
        img = on_template(img, name, n4)
    scan = prepare_scan(img, n4, subject=name)
    nib.save(scan.image, WORK / f"{modality}_{name}_image.nii.gz")
    nib.save(scan.brain, WORK / f"{modality}_{name}_brain.nii.gz")
    return name


def kind(first: str, later: str) -> str:
    if first.removesuffix("+merged") == later.removesuffix("+merged"):
        return "same scan"
    if first.split("_")[0] == later.split("_")[0]:
        return "same person"
    return "another person"


def compare(item: tuple[str, str, str]) -> dict:
    from wmhmap.preprocess import LinearRegistrationSettings
    from wmhmap.visits import compare_visits

    modality, first, later = item

    def scan(name: str) -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
        return tuple(
            nib.load(WORK / f"{modality}_{name}_{part}.nii.gz") for part in ("image", "brain")
        )

    settings = LinearRegistrationSettings.from_config(load_config()["preprocess"]["rigid"])
    measures = compare_visits(*scan(first), *scan(later), settings=settings)
    return {
        "modality": modality,
        "first": first,
        "later": later,
        "kind": kind(first, later),
        **measures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="scans or pairs side by side")
    parser.add_argument(
        "--template", action="store_true", help="also the Lesjak T1w normalised to the atlas"
    )
    args = parser.parse_args()
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
    threshold = float(load_config()["qc"]["min_visit_csf_dice"])
    files = scan_files()
    WORK.mkdir(exist_ok=True)
    items = [(m, name, path, 0) for (m, name), path in files.items()]
    items += [(m, name, files[m, name], merge) for (m, name), merge in MERGED.items()]
    modalities = ["T1w", "FLAIR"]
    if args.template:
        items += [(TEMPLATE, f"{p}_{s}", files["T1w", f"{p}_{s}"], 0) for p, s in LESJAK]
        modalities.append(TEMPLATE)
    with ProcessPoolExecutor(args.jobs) as pool:
        names = list(pool.map(prepare, items))
        scans = {
            m: [n for (mod, *_), n in zip(items, names, strict=True) if mod == m]
            for m in modalities
        }
        pairs = [
            (m, a, b) for m, group in scans.items() for a, b in itertools.combinations(group, 2)
        ]
        rows = list(pool.map(compare, pairs))

    print(
        f"{'':<12} {'first visit':<26} {'later visit':<26} {'kind':<14} brain  CSF    "
        "fit        scale"
    )
    for r in rows:
        print(
            f"{r['modality']:<12} {r['first']:<26} {r['later']:<26} {r['kind']:<14} "
            f"{r['visit_brain_dice']:.3f}  {r['visit_csf_dice']:.3f}  {r['visit_fit']:<10} "
            f"{r['visit_scale']:.3f}"
        )
    print(f"\nqc.min_visit_csf_dice: {threshold}")
    for modality in modalities:
        for name in ("same scan", "same person", "another person"):
            group = [r for r in rows if r["modality"] == modality and r["kind"] == name]
            if not group:
                continue
            brain = [r["visit_brain_dice"] for r in group]
            csf = [r["visit_csf_dice"] for r in group]
            scale = [r["visit_scale"] for r in group]
            scaled = sum(r["visit_fit"] == "Similarity" for r in group)
            print(
                f"{modality:<12} {name:<14} n={len(group):<3} "
                f"brain {min(brain):.3f}-{max(brain):.3f} (median {np.median(brain):.3f})  "
                f"CSF {min(csf):.3f}-{max(csf):.3f} (median {np.median(csf):.3f}), "
                f"flagged {sum(c < threshold for c in csf)}; the scaled fit counted in "
                f"{scaled}, scale {min(scale):.3f}-{max(scale):.3f}"
            )


if __name__ == "__main__":
    main()
