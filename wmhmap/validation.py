"""Per-subject input checks, run before any heavy work.

Everything a later stage would trip over is checked here, so that the message
names the subject, the file, the problem and the fix, and no half-finished result
is left behind. A visit that fails gets a report saying so (:func:`failed_report`):
its first heavy job raises the recorded error (:func:`require_valid`), and the cohort
tables leave it out, so with ``--keep-going`` one bad scan never blocks the cohort.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from wmhmap.brainmask import extract_brain
from wmhmap.errors import InputError
from wmhmap.geometry import fov_overlap, orientation_code, reorient_to_ras, voxel_sizes
from wmhmap.imageio import load_image, same_grid
from wmhmap.regions import OTHER
from wmhmap.samplesheet import MODALITY_COLUMNS, modalities

MIN_FOV_OVERLAP = 0.5
"""T1w and FLAIR must share at least this share of the smaller field of view."""


def validate_subject(row: Mapping[str, Any], *, check_brain: bool = True) -> dict[str, Any]:
    """Load and check every image of one sample-sheet row; return a report.

    With ``check_brain`` every scan must show a brain (:func:`wmhmap.brainmask.extract_brain`,
    about 1.5 s a scan): a scan without one fails here, so the cohort goes on without
    the subject instead of waiting on its failed preprocessing.

    Raises
    ------
    InputError
        Unreadable, truncated, non-3-D or non-finite images; degenerate headers; a scan
        in which no brain is found;
        T1w and FLAIR that do not overlap in world space; an expert lesion mask that
        is not binary (0/1, or 0/1/2 with 2 = other pathology) or not on the FLAIR grid;
        a region map that is not on that grid, holds labels outside 0-36 or no region
        (:func:`check_region_map`).
    """
    subject = str(row["subject"])
    report: dict[str, Any] = {"subject": subject, "status": "ok", "images": {}}
    images = {}
    for modality in modalities(row):
        path = row[MODALITY_COLUMNS[modality]]
        img = load_image(path, subject=subject, role=modality)
        images[modality] = img
        report["images"][modality] = {
            "file": str(path),
            "shape": list(img.shape[:3]),
            "voxel_mm": [round(v, 4) for v in voxel_sizes(img)],
            "orientation": orientation_code(img),
        }
    if len(images) == 2:
        overlap = fov_overlap(images["FLAIR"], images["T1w"])
        report["fov_overlap"] = round(overlap, 4)
        if overlap < MIN_FOV_OVERLAP:
            raise InputError(
                f"T1w and FLAIR fields of view share only {overlap:.0%} of the smaller one in "
                f"world space (expected >= {MIN_FOV_OVERLAP:.0%})",
                subject=subject,
                file=row["t1"],
                fix="check that both images belong to this subject and session and that "
                "their headers (qform/sform) are intact",
            )
    mask_path = row.get("lesion_mask", "")
    if mask_path:
        mask = load_image(
            mask_path, subject=subject, role="lesion mask", dtype=None, allow_constant=True
        )
        values = np.unique(np.asarray(mask.dataobj))
        if not set(values.tolist()) <= {0, 1, 2}:
            shown = ", ".join(f"{v:g}" for v in values[:8])
            raise InputError(
                f"lesion mask holds values {shown}{' ...' if values.size > 8 else ''}; expected "
                "0/1 (or 0/1/2 with 2 = other pathology, as in the WMH challenge)",
                subject=subject,
                file=mask_path,
                fix="binarise it (e.g. threshold a probability map at 0.5)",
            )
        grid = images.get("FLAIR") or images.get("T1w")
        if grid is not None and not same_grid(mask, grid):
            raise InputError(
                f"lesion mask grid (shape {mask.shape[:3]}) differs from the "
                f"{'FLAIR' if 'FLAIR' in images else 'T1w'} grid (shape {grid.shape[:3]})",
                subject=subject,
                file=mask_path,
                fix="give the mask on the FLAIR grid it was drawn on (same shape and affine)",
            )
        report["lesion_mask"] = {
            "file": str(mask_path),
            "lesion_voxels": int((np.asarray(mask.dataobj) == 1).sum()),
        }
    region_path = row.get("region_map", "")
    if region_path:
        grid_modality = "FLAIR" if "FLAIR" in images else "T1w"
        report["region_map"] = check_region_map(
            load_image(
                region_path, subject=subject, role="region map", dtype=None, allow_constant=True
            ),
            images[grid_modality],
            subject=subject,
            file=region_path,
            grid_modality=grid_modality,
        )
    if check_brain:  # last: the quick structural checks name their problems first
        for modality, img in images.items():
            path = row[MODALITY_COLUMNS[modality]]
            brain = extract_brain(reorient_to_ras(img), subject=subject, file=path)
            report["images"][modality]["brain_ml"] = round(brain.volume_ml, 1)
    return report


def check_region_map(
    regions: nib.Nifti1Image,
    grid: nib.Nifti1Image,
    *,
    subject: str,
    file: str | Path,
    grid_modality: str = "FLAIR",
) -> dict[str, Any]:
    """Check a given region map (sample-sheet ``region_map``) against its subject's scan.

    It must lie on the scan's grid (the FLAIR's; the T1w's without FLAIR), hold whole
    labels 0-36 only (0 outside, 1-34 the regions, 35/36 other white matter, as
    :mod:`wmhmap.regions`) and at least one region voxel. Returns the labels found.

    >>> import numpy as np, nibabel as nib
    >>> grid = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    >>> ok = nib.Nifti1Image(np.pad(np.full((2, 2, 2), 7, np.uint8), 1), np.eye(4))
    >>> check_region_map(ok, grid, subject="01", file="r.nii.gz")
    {'file': 'r.nii.gz', 'labels': [7], 'region_voxels': 8}
    """
    if not same_grid(regions, grid):
        raise InputError(
            f"region map grid (shape {regions.shape[:3]}) differs from the {grid_modality} "
            f"grid (shape {grid.shape[:3]})",
            subject=subject,
            file=file,
            fix=f"give the region map on the {grid_modality} grid of this subject (same shape "
            "and affine; resample it with nearest-neighbour interpolation)",
        )
    data = np.asarray(regions.dataobj)
    values = np.unique(data)
    whole = np.isfinite(values) & (values == np.round(values))
    outside = values[~whole | (values < 0) | (values > max(OTHER))]
    if outside.size:
        shown = ", ".join(f"{v:g}" for v in outside[:8])
        raise InputError(
            f"region map holds values {shown}{' ...' if outside.size > 8 else ''}; expected "
            f"whole labels 0-{max(OTHER)} (1-34 the regions, {OTHER[0]}/{OTHER[1]} other "
            "white matter)",
            subject=subject,
            file=file,
            fix="give the map of the 34 regions in the numbering of resources/atlas/regions.tsv "
            "(a probability or intensity image is not a region map)",
        )
    labels = sorted(int(v) for v in values if 0 < v < OTHER[0])
    if not labels:
        raise InputError(
            "region map holds none of the 34 regions (all voxels are 0"
            + (f" or {OTHER[0]}/{OTHER[1]}" if values.size > 1 else "")
            + ")",
            subject=subject,
            file=file,
            fix="give the subject's region map, or leave region_map empty to use the atlas",
        )
    return {
        "file": str(file),
        "labels": labels,
        "region_voxels": int(((data > 0) & (data < OTHER[0])).sum()),
    }


def failed_report(subject: str, error: InputError) -> dict[str, Any]:
    """The validation report of a visit whose inputs cannot be used (see :func:`require_valid`).

    >>> r = failed_report("01", InputError("image is 4-D", subject="01", file="a.nii", fix="x"))
    >>> r["status"], r["error"]["problem"]
    ('failed', 'image is 4-D')
    """
    return {
        "subject": subject,
        "status": "failed",
        "message": str(error),
        "error": {
            "problem": error.problem,
            "subject": error.subject,
            "file": error.file,
            "fix": error.fix,
        },
    }


def require_valid(report: Mapping[str, Any]) -> None:
    """Raise the recorded :class:`InputError` of a failed validation report."""
    if report.get("status") != "ok":
        raise InputError(**report["error"])


def validation_table(reports: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per visit: ``subject``, ``status`` (ok / failed), ``file``, ``message``."""
    return pd.DataFrame(
        [
            {
                "subject": r["subject"],
                "status": r["status"],
                "file": (r.get("error") or {}).get("file") or "",
                "message": r.get("message", ""),
            }
            for r in reports
        ],
        columns=["subject", "status", "file", "message"],
    )


def log_excluded(failed_table: str, log: logging.Logger) -> int:
    """Say in a statistics job's log how many subjects failed validation and are left out."""
    failed = pd.read_csv(failed_table, sep="\t", dtype=str)
    if len(failed):
        log.warning(
            "%d subject(s) excluded (failed input validation, see %s): %s",
            len(failed),
            failed_table,
            ", ".join(failed["subject"]),
        )
    return len(failed)
