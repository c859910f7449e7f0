"""The results folder as a BIDS derivatives dataset: its description and ignore list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wmhmap import __version__

BIDS_VERSION = "1.10.0"
# Folders and files at the derivatives root that are not BIDS: cohort tables, the
# atlas, nnU-Net's own layout, logs, benchmarks, the demo's raw data, and per-subject
# QC folders (as fMRIPrep keeps its figures/).
BIDSIGNORE = (
    "group/",
    "atlas/",
    "nnunet/",
    "logs/",
    "benchmarks/",
    "demo/",
    "report.html",
    "sub-*/figures/",
    "sub-*/qc/",
    "sub-*/ses-*/figures/",
    "sub-*/ses-*/qc/",
)


def dataset_description(source: str | Path | None) -> dict[str, Any]:
    """``dataset_description.json`` of the results (BIDS derivatives, GeneratedBy wmhmap).

    ``source`` is the input BIDS dataset (its DOI is carried over when it declares one)
    or None for a sample sheet / the demo.

    >>> d = dataset_description(None)
    >>> d["DatasetType"], d["GeneratedBy"][0]["Name"]
    ('derivative', 'wmhmap')
    """
    description: dict[str, Any] = {
        "Name": "wmhmap: regional white matter hyperintensity maps",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "wmhmap",
                "Version": __version__,
                "Description": "N4 + RAS preprocessing, affine atlas-label propagation, "
                "nnU-Net v2 WMH and region segmentation, regional WMH loads",
            }
        ],
    }
    if source is not None:
        root = Path(source).expanduser().absolute()
        entry: dict[str, str] = {"URL": root.as_uri()}
        try:
            raw = json.loads((root / "dataset_description.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        if raw.get("DatasetDOI"):
            entry["DOI"] = str(raw["DatasetDOI"])
        if raw.get("Name"):
            description["Name"] = f"wmhmap derivatives of {raw['Name']}"
        description["SourceDatasets"] = [entry]
    return description


def bidsignore() -> str:
    """Contents of ``.bidsignore`` at the derivatives root."""
    return "\n".join(BIDSIGNORE) + "\n"
