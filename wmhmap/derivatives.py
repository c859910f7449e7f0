"""The results folder as a BIDS derivatives dataset: its description and ignore list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from wmhmap import __version__
from wmhmap.regions import RegionTable

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


# Segmentations whose values are region ids: one lookup table at the root serves them
# all (BIDS inheritance: a root ``desc-regions_dseg.tsv`` describes every subject's
# ``*_desc-regions_dseg.nii.gz``).
REGION_SEGMENTATIONS = ("atlas", "regions", "regionsmodalities")


def dseg_lookup(table: RegionTable) -> pd.DataFrame:
    """BIDS ``dseg.tsv`` of a region table: ``index`` (the voxel value), ``name``,
    ``abbreviation`` (the short display label) and ``hemisphere``.

    >>> from wmhmap.regions import load_region_table
    >>> dseg_lookup(load_region_table()).iloc[0, :2].to_dict()
    {'index': 1, 'name': 'left parietal superficial WM'}
    """
    return pd.DataFrame(
        {
            "index": [r.region_id for r in table],
            "name": [f"{r.hemisphere} {r.name}" for r in table],
            "abbreviation": [r.label for r in table],
            "hemisphere": [r.hemisphere for r in table],
        }
    )


def bids_uri(path: str | Path, derivative: str | Path) -> str:
    """BIDS URI of ``path`` as the sidecar of ``derivative`` (a file of the same results)
    names it in ``Sources``: ``bids::<path from the results root>``; a file outside the
    results gets its ``file://`` URI.

    >>> bids_uri("/r/sub-01/anat/sub-01_desc-preproc_FLAIR.nii.gz", "/r/sub-01/anat/m.json")
    'bids::sub-01/anat/sub-01_desc-preproc_FLAIR.nii.gz'
    >>> bids_uri("/data/x.nii.gz", "/r/sub-01/ses-2/anat/m.json")
    'file:///data/x.nii.gz'
    """
    target, own = Path(path).absolute(), Path(derivative).absolute()
    subject = next((p for p in own.parents if p.name.startswith("sub-")), None)
    if subject is not None and target.is_relative_to(subject.parent):
        return f"bids::{target.relative_to(subject.parent).as_posix()}"
    return target.as_uri()


def bidsignore() -> str:
    """Contents of ``.bidsignore`` at the derivatives root."""
    return "\n".join(BIDSIGNORE) + "\n"
