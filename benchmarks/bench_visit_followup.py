"""Does the visit check still pass one person's later visit after years of atrophy, or
on another scanner?

Run: ``WMHMAP_REAL_SCANS_DIR=... .venv/bin/python benchmarks/bench_visit_followup.py``
(two patients, nine changes each, two fits per change: about 7 minutes on 2 cores)

The two Lesjak patients' real visits (clinical T1w, 0.7 x 0.7 x 3 mm, a year apart)
are what one person's pair looks like over a short follow-up. What a long one does is
imitated on the later visit's raw T1w before it goes through the workflow's
preprocessing (:func:`wmhmap.preprocess.prepare_scan`), then measured against the first
visit as the ``compare_visits`` job measures it (brain and CSF overlap,
:func:`wmhmap.atlas.coregistration_overlap` and :func:`wmhmap.atlas.csf_overlap`):

- ``head``: the whole image scaled about the ventricles by 1-3 % along every axis, as
  another scanner's gradient calibration scales a head (a follow-up on a new scanner);
- ``brain``: the brain shrunk towards the ventricles by 2-4 % along every axis inside
  a skull that stays (atrophy: sulci and the space under the skull widen; about 6-12 %
  of the brain's volume, years of Alzheimer's disease);
- ``ventricles``: a smooth expansion round the ventricles (they grow by about a third);
- ``stripped``: the later visit skull-stripped (by its own brain mask), the first not;
  and the other way round.

Each changed scan is fitted to the first visit with each of the job's fits (rigid, and
with one scale started from it: :func:`wmhmap.visits.visit_fits`); the row prints both
overlaps and the scale (``visit_scale``) for each, and which fit counts (the better CSF
overlap, as :func:`wmhmap.visits.compare_visits` takes it: ``visit_fit``). A same-person
pair must stay above ``qc.min_visit_csf_dice``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_regions import SHARED, load_config

PATIENTS = ("patient01", "patient12")
CHANGES = {  # name: (ventricle expansion at the centre, head scale, brain shrink)
    "none (the real later visit)": (0.0, 0.0, 0.0),
    "later visit stripped": (0.0, 0.0, 0.0),
    "first visit stripped": (0.0, 0.0, 0.0),
    "head +1 %": (0.0, 0.01, 0.0),
    "head +2 %": (0.0, 0.02, 0.0),
    "head -3 %": (0.0, -0.03, 0.0),
    "brain -2 %": (0.0, 0.0, 0.02),
    "brain -2 %, ventricles": (0.3, 0.0, 0.02),
    "brain -4 %, ventricles": (0.3, 0.0, 0.04),
}
VENTRICLE_SIGMA_MM = 22.0


def changed(
    raw: nib.Nifti1Image,
    brain: nib.Nifti1Image,
    change: tuple[float, float, float],
    rng: np.random.Generator,
) -> tuple[nib.Nifti1Image, float]:
    """``raw`` (RAS) with ``change`` applied about the ventricles' centre (the darkest
    tenth of the brain within 35 mm of its centre), 1 % noise added; and the ventricles'
    growth (the darkest 5 % of the brain within 30 mm, carried the same way)."""
    ventricles, head_scale, brain_shrink = change
    data = np.asarray(raw.dataobj, dtype=np.float32)
    zooms = np.asarray(raw.header.get_zooms()[:3], dtype=float)
    inside = np.asarray(brain.dataobj) > 0
    voxels = np.argwhere(inside)
    values = data[inside]
    near = np.linalg.norm((voxels - voxels.mean(0)) * zooms, axis=1) < 35
    centre = voxels[near & (values < np.percentile(values, 10))].mean(0)
    grid = np.indices(data.shape, dtype=np.float32)
    r2 = sum(((grid[i] - centre[i]) * zooms[i]) ** 2 for i in range(3))
    expansion = ventricles * np.exp(-r2 / (2 * VENTRICLE_SIGMA_MM**2))
    skull_stays = ndi.gaussian_filter(inside.astype(np.float32), 4.0 / zooms)
    # each output voxel samples the scan nearer the centre (growth) or farther (shrink)
    factor = (1 - expansion) / (1 - brain_shrink * skull_stays) / (1 + head_scale)
    coords = [centre[i] + (grid[i] - centre[i]) * factor for i in range(3)]
    out = ndi.map_coordinates(data, coords, order=1, mode="constant", cval=0.0)
    out += rng.normal(0, 0.01 * np.percentile(values, 90), out.shape).astype(np.float32)
    dark = inside & (data < np.percentile(values, 5)) & (np.sqrt(r2) < 30)
    grown = ndi.map_coordinates(dark.astype(np.float32), coords, order=1).sum() / dark.sum()
    return nib.Nifti1Image(np.abs(out), raw.affine), float(grown - 1)


def main() -> None:
    from wmhmap.atlas import coregistration_overlap, csf_overlap, fit_scale
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.imageio import like
    from wmhmap.preprocess import (
        LinearRegistrationSettings,
        N4Settings,
        PreparedScan,
        prepare_scan,
    )
    from wmhmap.visits import visit_fits

    def stripped(scan: PreparedScan, name: str) -> PreparedScan:
        data = np.asarray(scan.image.dataobj, dtype=np.float32)
        data *= np.asarray(scan.brain.dataobj) > 0
        return prepare_scan(like(data, scan.image, np.float32), n4, subject=name)

    root = Path(os.environ.get("WMHMAP_REAL_SCANS_DIR", SHARED / "real_scans"))
    folder = root / "lesjak_longitudinal"
    if not folder.is_dir():
        sys.exit(f"missing {folder} (set WMHMAP_REAL_SCANS_DIR)")
    config = load_config()
    n4 = N4Settings.from_config(config["preprocess"]["n4"])
    settings = LinearRegistrationSettings.from_config(config["preprocess"]["rigid"])
    threshold = float(config["qc"]["min_visit_csf_dice"])
    rng = np.random.default_rng(1)
    for patient in PATIENTS:
        first = prepare_scan(
            reorient_to_ras(nib.load(folder / patient / "study1_T1W.nii.gz")), n4, subject=patient
        )
        raw = reorient_to_ras(nib.load(folder / patient / "study2_T1W.nii.gz"))
        later = prepare_scan(raw, n4, subject=f"{patient}_2")
        for name, change in CHANGES.items():
            reference = first
            if name == "first visit stripped":
                reference = stripped(first, f"{patient}_1 stripped")
            if name.endswith("stripped"):
                grown = 0.0
                scan = (
                    stripped(later, f"{patient}_2 stripped") if name.startswith("later") else later
                )
            else:
                image, grown = changed(raw, later.brain, change, rng)
                scan = prepare_scan(image, n4, subject=f"{patient}_2 {name}")
            row: dict = {"patient": patient, "change": name, "ventricles": round(grown, 2)}
            fits = visit_fits(reference.image, scan.image, settings=settings)
            for kind, fit in fits.items():
                brain = coregistration_overlap(scan.brain, reference.brain, fit)
                csf = csf_overlap(scan.image, reference.image, reference.brain, fit)
                row[kind] = {
                    "brain": round(brain, 3),
                    "csf": round(csf, 3),
                    "scale": round(fit_scale(fit), 4),
                }
            counted = max(fits, key=lambda kind: row[kind]["csf"])
            row["counts"] = counted
            row["flagged"] = row[counted]["csf"] < threshold
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
