"""The sample sheet: one row per subject, checked before any image is touched.

Columns (TSV): ``subject`` (letters and digits), ``flair``, ``t1`` (paths; at least
one per subject), and optionally ``diagnosis`` (CN/MCI/AD), ``site``, ``age``,
``sex`` (M/F), ``reference_wmh_ml``, ``lesion_mask`` (expert mask on the FLAIR grid:
0/1, or 0/1/2 with 2 = other pathology as in the WMH challenge), ``region_map`` (the
subject's own map of the 34 regions on the same grid: labels 0-34, and 35/36 for white
matter outside them; the region model learns from it and is scored against it) and
``split`` (train/test). Relative paths are relative to the sheet's folder.

A ``session`` column (letters and digits) makes each row one visit of a subject:
the visit id is then ``<subject>_ses-<session>`` (:func:`wmhmap.paths.subject_key`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pandas as pd

from wmhmap.errors import InputError
from wmhmap.paths import subject_key

REQUIRED = ("subject",)
PATH_COLUMNS = ("flair", "t1", "lesion_mask", "region_map")
OPTIONAL = ("session", "diagnosis", "site", "age", "sex", "reference_wmh_ml", "split")
KNOWN = (*REQUIRED, *PATH_COLUMNS, *OPTIONAL)
# The documented column order (README, docs/running.md), used when wmhmap writes a sheet.
COLUMNS = (
    "subject",
    "flair",
    "t1",
    "diagnosis",
    "site",
    "age",
    "sex",
    "reference_wmh_ml",
    "lesion_mask",
    "region_map",
    "split",
)
DIAGNOSES = ("CN", "MCI", "AD")
MODALITY_COLUMNS = {"FLAIR": "flair", "T1w": "t1"}


def _blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or str(value).strip() in {"", "n/a", "NA"}
    )


def read_tsv(
    path: str | Path, *, what: str, missing_fix: str, unreadable_fix: str, **read_csv: Any
) -> pd.DataFrame:
    """Read a TSV with pandas (``read_csv`` keywords passed on); ``what`` names the table
    in the :class:`InputError` raised for a missing or unparsable file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found", file=path, fix=missing_fix)
    try:
        return pd.read_csv(path, sep="\t", **read_csv)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{what} is not a readable TSV ({exc})", file=path, fix=unreadable_fix
        ) from None


def read_samplesheet(path: str | Path) -> pd.DataFrame:
    """Read a sample sheet TSV as strings (blank cells become empty strings)."""
    df = read_tsv(
        path,
        what="sample sheet",
        missing_fix="set `samplesheet:` in config/config.yaml to your TSV (empty runs the demo)",
        unreadable_fix="save it as tab-separated UTF-8 text with one header line",
        dtype=str,
        keep_default_na=False,
        comment=None,
    )
    df.columns = [c.strip() for c in df.columns]
    return df.apply(lambda col: col.str.strip())


def validate_samplesheet(
    df: pd.DataFrame,
    *,
    base_dir: str | Path | None = None,
    file: str | Path | None = None,
    check_files: bool = True,
    allowed_root: str | Path | None = None,
) -> pd.DataFrame:
    """Check a sample sheet and return it indexed by visit id, with absolute paths.

    The index is the subject id, or ``<subject>_ses-<session>`` when the sheet has
    sessions. Raises :class:`InputError` on: a missing ``subject`` column, unknown columns,
    empty/duplicate/non-alphanumeric ids, a subject with neither FLAIR nor T1w,
    unknown diagnosis/sex/split values, non-numeric age or reference volume,
    missing image files (``check_files``) and paths escaping ``allowed_root``.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"sample sheet lacks the column(s) {', '.join(missing)} "
            f"(found: {', '.join(df.columns)})",
            file=file,
            fix="add a header line with at least: subject, flair, t1",
        )
    unknown = [c for c in df.columns if c not in KNOWN]
    if unknown:
        raise InputError(
            f"sample sheet has unknown column(s) {', '.join(unknown)}",
            file=file,
            fix=f"rename or remove them; known columns are {', '.join(KNOWN)}",
        )
    if not any(c in df.columns for c in ("flair", "t1")):
        raise InputError(
            "sample sheet has neither a flair nor a t1 column",
            file=file,
            fix="add the image paths in columns flair and/or t1",
        )
    out = df.copy()
    for col in KNOWN:
        if col not in out.columns:
            out[col] = ""
    base = Path(base_dir) if base_dir is not None else (Path(file).parent if file else Path.cwd())
    root = Path(allowed_root).resolve() if allowed_root is not None else None
    sessions = out["session"].map(lambda v: not _blank(v))
    if sessions.any() and not sessions.all():
        line = int(sessions.to_numpy().argmin()) + 2
        raise InputError(
            f"line {line}: the session is empty while other rows have one",
            subject=str(out["subject"].iloc[line - 2]),
            file=file,
            fix="give every row a session, or none",
        )
    keys: list[str] = []
    seen: dict[str, int] = {}
    for i, row in out.iterrows():
        line = cast(int, i) + 2  # header is line 1
        sid = str(row["subject"])
        if not sid:
            raise InputError(
                f"line {line}: empty subject id", file=file, fix="give every row an id"
            )
        if not (sid.isascii() and sid.isalnum()):
            raise InputError(
                f"line {line}: subject id {sid!r} holds characters other than letters and digits",
                subject=sid,
                file=file,
                fix="use ids like 001 or ADNI0123 (BIDS labels allow letters and digits only)",
            )
        session = "" if _blank(row["session"]) else str(row["session"])
        if session and not (session.isascii() and session.isalnum()):
            raise InputError(
                f"line {line}: session {session!r} holds characters other than letters and digits",
                subject=sid,
                file=file,
                fix="use session labels like 1, baseline or M12 (BIDS labels)",
            )
        key = subject_key(sid, session)
        if key in seen:
            raise InputError(
                f"{'visit' if session else 'subject id'} {key!r} appears on lines "
                f"{seen[key]} and {line}",
                subject=sid,
                file=file,
                fix="give every subject one row, or add a session column for repeated visits",
            )
        seen[key] = line
        keys.append(key)
        sid = key
        if _blank(row["flair"]) and _blank(row["t1"]):
            raise InputError(
                f"line {line}: neither a FLAIR nor a T1w image is given",
                subject=sid,
                file=file,
                fix="fill in the flair and/or t1 column",
            )
        for col in PATH_COLUMNS:
            if _blank(row[col]):
                out.at[i, col] = ""
                continue
            p = Path(str(row[col])).expanduser()
            p = p if p.is_absolute() else base / p
            p = Path(p.resolve()) if root is not None else Path(p.absolute())
            if root is not None and not p.is_relative_to(root):
                raise InputError(
                    f"{col} path {row[col]!r} lies outside the dataset root {root}",
                    subject=sid,
                    file=file,
                    fix="keep every image under the dataset root, or change `dataset_root`",
                )
            if check_files and not p.is_file():
                raise InputError(
                    f"{col} image {p} does not exist",
                    subject=sid,
                    file=file,
                    fix="correct the path (relative paths start at the sample sheet's folder)",
                )
            out.at[i, col] = str(p)
        dx = str(row["diagnosis"])
        if not _blank(dx) and dx not in DIAGNOSES:
            raise InputError(
                f"diagnosis {dx!r} is not one of {', '.join(DIAGNOSES)}",
                subject=sid,
                file=file,
                fix="use CN, MCI or AD (or leave it empty)",
            )
        sex = str(row["sex"])
        if not _blank(sex) and sex not in ("M", "F"):
            raise InputError(f"sex {sex!r} is not M or F", subject=sid, file=file, fix="use M or F")
        split = str(row["split"])
        if not _blank(split) and split not in ("train", "test"):
            raise InputError(
                f"split {split!r} is not train or test",
                subject=sid,
                file=file,
                fix="use train or test",
            )
        for col in ("age", "reference_wmh_ml"):
            val = str(row[col])
            if _blank(val):
                continue
            try:
                number = float(val)
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or number < 0:
                raise InputError(
                    f"{col} {val!r} is not a non-negative number",
                    subject=sid,
                    file=file,
                    fix=f"write {col} as a number (decimal point, no units) or leave it empty",
                )
    out.index = pd.Index(keys, name="visit")
    out["session"] = out["session"].map(lambda v: "" if _blank(v) else str(v))
    return out


def has_sessions(samples: pd.DataFrame) -> bool:
    """Whether the (validated) sample sheet's rows are visits (subject + session)."""
    return "session" in samples.columns and bool(samples["session"].astype(bool).any())


def statistics_visits(samples: pd.DataFrame, session: str = "") -> list[str]:
    """The visit ids the cohort statistics use: one per subject.

    Without sessions, every row. With sessions, each subject's visit of ``session``
    (subjects without it are left out), or when empty its first row: the sheet's order,
    which BIDS discovery makes time order (sessions.tsv ``acq_time``, else labels in
    natural order).

    >>> sheet = pd.DataFrame({"subject": ["a", "a", "b"], "session": ["2", "10", "1"]},
    ...                      index=["a_ses-2", "a_ses-10", "b_ses-1"])
    >>> statistics_visits(sheet), statistics_visits(sheet, "10")
    (['a_ses-2', 'b_ses-1'], ['a_ses-10'])
    """
    if not has_sessions(samples):
        return list(samples.index)
    if session:
        return [k for k, s in zip(samples.index, samples["session"], strict=True) if s == session]
    first = ~samples["subject"].duplicated()
    return list(samples.index[first.to_numpy()])


def cohort_table(samples: pd.DataFrame, visits: list[str] | None = None) -> pd.DataFrame:
    """The validated sheet as the cohort statistics read it: ``subject`` is the visit id.

    With sessions, ``participant_id`` and ``session_id`` keep the BIDS labels apart.
    ``visits`` keeps only those rows (see :func:`statistics_visits`).
    """
    if visits is not None:
        samples = samples.loc[visits]
    table = samples.reset_index(drop=True)
    table["subject"] = list(samples.index)
    columns = list(COLUMNS)
    if has_sessions(samples):
        table.insert(1, "participant_id", "sub-" + samples["subject"].to_numpy())
        table.insert(2, "session_id", "ses-" + samples["session"].to_numpy())
        columns[1:1] = ["participant_id", "session_id"]
    return table[columns]


def load_samplesheet(
    path: str | Path, *, check_files: bool = True, allowed_root: str | Path | None = None
) -> pd.DataFrame:
    """Read and validate a sample sheet (see :func:`validate_samplesheet`)."""
    path = Path(path)
    return validate_samplesheet(
        read_samplesheet(path), file=path, check_files=check_files, allowed_root=allowed_root
    )


def modalities(row: Mapping[str, Any]) -> list[str]:
    """Modalities present for a subject, FLAIR first (``["FLAIR", "T1w"]``)."""
    return [m for m, col in MODALITY_COLUMNS.items() if not _blank(row.get(col, ""))]


def analysis_modality(row: Mapping[str, Any]) -> str:
    """The modality whose grid is the subject's analysis grid: FLAIR when present."""
    present = modalities(row)
    if not present:
        raise InputError("no image given", subject=str(row.get("subject")), fix="add flair or t1")
    return present[0]
