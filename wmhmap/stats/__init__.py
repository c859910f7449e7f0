"""Cohort statistics behind the paper's tables and figures.

One module per analysis, all pure functions on pandas/numpy inputs:

- :mod:`wmhmap.stats.agreement` - Bland-Altman agreement of predicted and reference volumes;
- :mod:`wmhmap.stats.classification` - AD / MCI / CN logistic regression, ROC, AUC, DeLong;
- :mod:`wmhmap.stats.clustering` - k-means on where lesions are (normalised regional loads);
- :mod:`wmhmap.stats.figures` - matplotlib figures of all of the above.

The inputs are the "wide" loads table (one row per subject: ``subject``, ``global_mm3``,
``outside_mm3``, ``region_01`` ... ``region_34``), the sample sheet (``subject``,
``diagnosis``, ``site``, ``age``, ``sex``, ``reference_wmh_ml``) and, for classification,
brain-structure volumes (``subject``, ``hippocampus_mm3``, ``csf_mm3``, ``gm_mm3``,
``wm_mm3``, ``icv_mm3``). The helpers below are shared by the modules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from wmhmap.errors import InputError
from wmhmap.samplesheet import read_tsv

REGION_COLUMN = re.compile(r"^region_(\d+)$")
"""Regional load columns of the wide table: ``region_01`` ... ``region_34``."""


def region_columns(wide: pd.DataFrame) -> list[str]:
    """Return the regional load columns of a wide loads table, in region-id order.

    Examples
    --------
    >>> region_columns(pd.DataFrame(columns=["subject", "region_10", "region_02", "global_mm3"]))
    ['region_02', 'region_10']
    """
    found = [c for c in wide.columns if REGION_COLUMN.match(str(c))]
    if not found:
        raise InputError(
            "the loads table has no regional columns (region_01, region_02, ...)",
            fix="pass the wide regional loads table written by the loads stage",
        )
    return sorted(found, key=region_id)


def region_id(column: str) -> int:
    """Return the region id of a regional load column.

    Examples
    --------
    >>> region_id("region_07")
    7
    """
    match = REGION_COLUMN.match(column)
    if match is None:
        raise InputError(
            f"column {column!r} is not a regional load column",
            fix="name regional columns region_<id>, e.g. region_07",
        )
    return int(match.group(1))


def require_columns(table: pd.DataFrame, columns: Iterable[str], *, table_name: str) -> None:
    """Raise :class:`InputError` naming every column of ``columns`` that ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            f"the {table_name} lacks column(s) {', '.join(missing)}; "
            f"it has {', '.join(map(str, table.columns)) or 'no columns'}",
            fix=f"add the missing column(s) to the {table_name} or check their spelling",
        )


def with_diagnosis(meta: pd.DataFrame) -> pd.DataFrame:
    """``meta`` with a ``diagnosis`` column: diagnoses are optional in a sample sheet, and
    a cohort without them (e.g. a segmentation study) gets the column empty, so that
    the figures grouped by diagnosis draw one group and the clusters go uncounted.

    >>> with_diagnosis(pd.DataFrame({"subject": ["a"]})).diagnosis.isna().all()
    np.True_
    """
    if "diagnosis" in meta.columns:
        return meta
    return meta.assign(diagnosis=pd.Series(pd.NA, index=meta.index, dtype="object"))


def with_subject_ids(table: pd.DataFrame, *, table_name: str) -> pd.DataFrame:
    """Return a copy of ``table`` whose ``subject`` column is text, checked to be unique.

    Sample sheets read with pandas may turn ids like ``001`` into integers in one table
    and not in another; comparing them as text keeps merges from silently dropping rows.
    """
    require_columns(table, ["subject"], table_name=table_name)
    out = table.copy()
    out["subject"] = out["subject"].astype(str)
    duplicated = out["subject"][out["subject"].duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"the {table_name} lists subject(s) {', '.join(duplicated[:5])} more than once",
            fix=f"keep one row per subject in the {table_name}",
        )
    return out


def read_table(path: str | Path, *, table_name: str) -> pd.DataFrame:
    """Read a TSV input of the statistics (loads, sample sheet, brain volumes).

    Subject ids stay text; empty cells and ``n/a`` are missing values.
    """
    table = read_tsv(
        path,
        what=f"the {table_name}",
        missing_fix="run the workflow's earlier stages",
        unreadable_fix="rewrite it as tab-separated text",
        dtype={"subject": str},
        na_values=["n/a"],
    )
    return with_subject_ids(table, table_name=table_name)
