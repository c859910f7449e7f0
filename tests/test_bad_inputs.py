# ruff: noqa: E501  (the catalogue is a table: one case per line)
"""A catalogue of bad inputs: each one must fail with its own clear message.

Every case builds one broken input next to otherwise valid ones and asserts the
:class:`InputError` it raises: what is wrong (a pattern on the problem), the subject and
the file it names where there is one, and that it says what to do. The workflow's rules
call these same functions (sample sheet at start, ``validate_subject_inputs`` before any
heavy work, region tables and loads tables in the loads and statistics stages).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from wmhmap.classic import ClassicMethod, segment_file, staple_files
from wmhmap.errors import InputError
from wmhmap.loads import read_loads_tsv
from wmhmap.regions import load_region_table, merge_labels
from wmhmap.samplesheet import load_samplesheet
from wmhmap.stats import read_table, region_columns, with_subject_ids
from wmhmap.stats.agreement import bland_altman
from wmhmap.validation import validate_subject

SUBJECT = "007"
FLAIR_AFFINE = np.diag([1.0, 1.0, 3.0, 1.0])


def save(path: Path, data, affine=None, dtype=np.float32) -> Path:
    affine = np.eye(4) if affine is None else affine
    nib.save(nib.Nifti1Image(np.asarray(data).astype(dtype), affine), path)
    return path


def valid_subject(folder: Path) -> dict[str, str]:
    """FLAIR (20x20x10, 1x1x3 mm), T1w (30^3, 1 mm) and a lesion mask on the FLAIR grid."""
    rng = np.random.default_rng(1)
    flair = save(folder / "flair.nii.gz", rng.random((20, 20, 10)), FLAIR_AFFINE)
    t1 = save(folder / "t1.nii.gz", rng.random((30, 30, 30)))
    mask = np.zeros((20, 20, 10))
    mask[5:8, 5:8, 4] = 1
    lesion = save(folder / "mask.nii.gz", mask, FLAIR_AFFINE, np.uint8)
    return {"subject": SUBJECT, "flair": str(flair), "t1": str(t1), "lesion_mask": str(lesion)}


SHEET_HEADER = ["subject", "flair", "t1", "diagnosis", "sex", "age", "reference_wmh_ml", "split"]


def sheet(folder: Path, rows: list[list[str]], header=SHEET_HEADER) -> Callable[[], object]:
    """Write a sample sheet (first row: the valid subject's images) and return its check."""
    valid_subject(folder)
    path = folder / "samples.tsv"
    lines = ["\t".join(header)] + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return lambda: load_samplesheet(path, allowed_root=folder)


GOOD = [SUBJECT, "flair.nii.gz", "t1.nii.gz", "AD", "F", "71", "3.2", "test"]


def good(**change: str) -> list[str]:
    row = dict(zip(SHEET_HEADER, GOOD, strict=True))
    row.update(change)
    return [row[c] for c in SHEET_HEADER]


def image_case(modify: Callable[[dict[str, str], Path], None]) -> Callable[[Path], Callable]:
    """A validate_subject case: ``modify`` breaks one file of a valid subject."""

    def build(folder: Path) -> Callable[[], object]:
        row = valid_subject(folder)
        modify(row, folder)
        return lambda: validate_subject(row)

    return build


def replace(role: str, data, affine=None, dtype=np.float32):
    def modify(row: dict[str, str], folder: Path) -> None:
        save(Path(row[role]), data, affine, dtype)

    return modify


def region_map(data, affine=FLAIR_AFFINE, dtype=np.float32):
    """A sample-sheet region_map (otherwise valid subject) holding ``data``."""

    def modify(row: dict[str, str], folder: Path) -> None:
        row["region_map"] = str(save(folder / "regions.nii.gz", data, affine, dtype))

    return modify


REGIONS = np.zeros((20, 20, 10))
REGIONS[4:10, 4:10, 3:6] = 7


def degenerate_sform(role: str):
    """A header whose sform squashes one axis to nothing (qform unset)."""

    def modify(row: dict[str, str], folder: Path) -> None:
        img = nib.Nifti1Image(NOISE.astype(np.float32), None)
        img.set_sform(np.diag([1.0, 1.0, 0.0, 1.0]), code=1)
        img.set_qform(None, code=0)
        nib.save(img, row[role])

    return modify


def truncate(role: str):
    def modify(row: dict[str, str], folder: Path) -> None:
        path = Path(row[role])
        path.write_bytes(path.read_bytes()[:200])

    return modify


def text_as(role: str):
    def modify(row: dict[str, str], folder: Path) -> None:
        with gzip.open(row[role], "wt") as fh:
            fh.write("subject\tflair\n007\tx.nii.gz\n")

    return modify


def remove(role: str):
    def modify(row: dict[str, str], folder: Path) -> None:
        Path(row[role]).unlink()

    return modify


def table_file(name: str, text: str | bytes, read: Callable[[Path], object]):
    def build(folder: Path) -> Callable[[], object]:
        path = folder / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return lambda: read(path)

    return build


def call(function: Callable[[], object]) -> Callable[[Path], Callable[[], object]]:
    return lambda folder: function


@dataclass(frozen=True)
class Bad:
    name: str
    build: Callable[[Path], Callable[[], object]]
    problem: str  # regular expression on InputError.problem
    subject: str | None = None  # the subject the message must name
    file: str | None = None  # the file name the message must name


rng = np.random.default_rng(3)
NOISE = rng.random((20, 20, 10))


def classic_case(folder: Path, wm=None, wm_affine=FLAIR_AFFINE) -> Callable[[], object]:
    """The FLAIR classic method on a preprocessed FLAIR with a broken white-matter mask."""
    wm = np.ones((20, 20, 10)) if wm is None else wm
    flair = save(folder / "flair.nii.gz", NOISE, FLAIR_AFFINE)
    brain = save(folder / "brain.nii.gz", np.ones((20, 20, 10)), FLAIR_AFFINE, np.uint8)
    mask = save(folder / "wm.nii.gz", wm, wm_affine, np.uint8)
    method = ClassicMethod("flairz", "FLAIR", "zscore", 3.0, 0.0)
    return lambda: segment_file(flair, mask, brain, method, subject=SUBJECT, min_lesion_mm3=0)


T1_FAR = np.diag([1.0, 1.0, 1.0, 1.0])
T1_FAR[:3, 3] = 500.0  # 50 cm away: no overlap with the FLAIR

CATALOGUE = [
    # -- sample sheet ------------------------------------------------------------------
    Bad("sheet missing", lambda f: lambda: load_samplesheet(f / "none.tsv"), "sample sheet not found", file="none.tsv"),
    Bad("sheet binary", table_file("samples.tsv", b"\x1f\x8b\x08\x00\xff\xfe" * 40, load_samplesheet), "not a readable TSV", file="samples.tsv"),
    Bad("no subject column", lambda f: sheet(f, [GOOD[1:]], SHEET_HEADER[1:]), r"lacks the column\(s\) subject", file="samples.tsv"),
    Bad("unknown column", lambda f: sheet(f, [[*GOOD, "x"]], [*SHEET_HEADER, "scanner"]), "unknown column.*scanner", file="samples.tsv"),
    Bad("empty subject id", lambda f: sheet(f, [good(subject="")]), "empty subject id", file="samples.tsv"),
    Bad("id with a dash", lambda f: sheet(f, [good(subject="sub-007")]), "other than letters and digits", subject="sub-007", file="samples.tsv"),
    Bad("duplicate id", lambda f: sheet(f, [GOOD, GOOD]), "appears on lines 2 and 3", subject=SUBJECT, file="samples.tsv"),
    Bad("no image", lambda f: sheet(f, [good(flair="", t1="")]), "neither a FLAIR nor a T1w", subject=SUBJECT, file="samples.tsv"),
    Bad("image missing", lambda f: sheet(f, [good(flair="gone.nii.gz")]), "flair image .*gone.nii.gz does not exist", subject=SUBJECT, file="samples.tsv"),
    Bad("path escapes root", lambda f: sheet(f, [good(t1="../../etc/t1.nii.gz")]), "outside the dataset root", subject=SUBJECT, file="samples.tsv"),
    Bad("unknown diagnosis", lambda f: sheet(f, [good(diagnosis="Alzheimer")]), "diagnosis 'Alzheimer' is not one of", subject=SUBJECT, file="samples.tsv"),
    Bad("unknown sex", lambda f: sheet(f, [good(sex="female")]), "sex 'female' is not M or F", subject=SUBJECT, file="samples.tsv"),
    Bad("unknown split", lambda f: sheet(f, [good(split="validation")]), "split 'validation' is not train or test", subject=SUBJECT, file="samples.tsv"),
    Bad("age with units", lambda f: sheet(f, [good(age="71y")]), "age '71y' is not a non-negative number", subject=SUBJECT, file="samples.tsv"),
    Bad("negative reference volume", lambda f: sheet(f, [good(reference_wmh_ml="-2")]), "reference_wmh_ml '-2' is not", subject=SUBJECT, file="samples.tsv"),
    # -- images (validate_subject_inputs) ----------------------------------------------
    Bad("FLAIR deleted", image_case(remove("flair")), "FLAIR file does not exist", SUBJECT, "flair.nii.gz"),
    Bad("T1w truncated", image_case(truncate("t1")), "cannot be read as NIfTI", SUBJECT, "t1.nii.gz"),
    Bad("text saved as .nii.gz", image_case(text_as("flair")), "cannot be read as NIfTI", SUBJECT, "flair.nii.gz"),
    Bad("4-D FLAIR", image_case(replace("flair", rng.random((20, 20, 10, 3)), FLAIR_AFFINE)), r"FLAIR is 4-D \(shape 20x20x10x3\)", SUBJECT, "flair.nii.gz"),
    Bad("single-slice T1w", image_case(replace("t1", rng.random((30, 30, 1)))), "single slice", SUBJECT, "t1.nii.gz"),
    Bad("NaNs in T1w", image_case(replace("t1", np.where(rng.random((30, 30, 30)) < 0.01, np.nan, 1.0))), "NaN or infinite", SUBJECT, "t1.nii.gz"),
    Bad("degenerate affine", image_case(degenerate_sform("flair")), "degenerate or non-finite affine", SUBJECT, "flair.nii.gz"),
    Bad("voxel size in metres", image_case(replace("flair", NOISE, np.diag([0.001, 0.001, 0.003, 1.0]))), "implausible voxel size", SUBJECT, "flair.nii.gz"),
    Bad("constant FLAIR", image_case(replace("flair", np.full((20, 20, 10), 7.0), FLAIR_AFFINE)), "constant", SUBJECT, "flair.nii.gz"),
    Bad("T1w of another place", image_case(replace("t1", rng.random((30, 30, 30)), T1_FAR)), "fields of view share only 0%", SUBJECT, "t1.nii.gz"),
    Bad("probability map as mask", image_case(replace("lesion_mask", NOISE, FLAIR_AFFINE)), "lesion mask holds values .* expected 0/1", SUBJECT, "mask.nii.gz"),
    Bad("mask on the T1w grid", image_case(replace("lesion_mask", np.zeros((30, 30, 30)), None, np.uint8)), "lesion mask grid .* differs from the FLAIR grid", SUBJECT, "mask.nii.gz"),
    Bad("region map on the T1w grid", image_case(region_map(np.pad(REGIONS, 5)[:30, :30, :30], None, np.uint8)), "region map grid .* differs from the FLAIR grid", SUBJECT, "regions.nii.gz"),
    Bad("region map resampled linearly", image_case(region_map(REGIONS * 1.5)), r"region map holds values 10\.5; expected whole labels 0-36", SUBJECT, "regions.nii.gz"),
    Bad("region map of another atlas", image_case(region_map(REGIONS * 9, dtype=np.uint8)), "region map holds values 63; expected whole labels", SUBJECT, "regions.nii.gz"),
    Bad("empty region map", image_case(region_map(np.zeros((20, 20, 10)), dtype=np.uint8)), "region map holds none of the 34 regions", SUBJECT, "regions.nii.gz"),
    # -- atlas and region tables -------------------------------------------------------
    Bad("region table without hemisphere", table_file("regions.tsv", "region_id\tname\n1\tgenu\n", load_region_table), r"lacks column\(s\) hemisphere", file="regions.tsv"),
    Bad("region table with a bad side", table_file("regions.tsv", "region_id\themisphere\tname\n1\tmiddle\tgenu\n", load_region_table), "hemisphere 'middle' is not left/right/bilateral", file="regions.tsv"),
    Bad("resampled label image", call(lambda: merge_labels(np.array([0.0, 3.5, 68.0]), load_region_table(), file="labels.nii.gz")), "non-integer values", file="labels.nii.gz"),
    Bad("unknown region label", call(lambda: load_region_table().check_labels([0, 1, 34, 37, 200], file="regions.nii.gz")), r"2 value\(s\) that are not in the region table .*: 37, 200", file="regions.nii.gz"),
    # -- classic masks -----------------------------------------------------------------
    Bad("white matter on another grid", lambda f: classic_case(f, wm_affine=np.diag([2.0, 2.0, 2.0, 1.0])), "white-matter mask is not on the grid", SUBJECT, "wm.nii.gz"),
    Bad("empty white matter", lambda f: classic_case(f, wm=np.zeros((20, 20, 10))), "white-matter mask is empty", SUBJECT, "wm.nii.gz"),
    Bad("bronze masks on two grids", lambda f: lambda: staple_files({"a": save(f / "a.nii.gz", NOISE > 0.5, FLAIR_AFFINE, np.uint8), "b": save(f / "b.nii.gz", NOISE > 0.5, None, np.uint8)}, subject=SUBJECT), "bronze masks a and b lie on different grids", SUBJECT, "b.nii.gz"),
    # -- tables of the loads and statistics stages ------------------------------------
    Bad("loads table binary", table_file("loads.tsv", b"\x00\x01\xff" * 100, read_loads_tsv), "loads table is not a readable TSV", file="loads.tsv"),
    Bad("stats table missing", lambda f: lambda: read_table(f / "wide.tsv", table_name="regional loads table"), "regional loads table not found", file="wide.tsv"),
    Bad("loads without regions", call(lambda: region_columns(pd.DataFrame(columns=["subject", "global_mm3"]))), "no regional columns"),
    Bad("subject twice in a table", call(lambda: with_subject_ids(pd.DataFrame({"subject": ["1", "2", "1"]}), table_name="sample sheet")), r"lists subject\(s\) 1 more than once"),
    Bad("no reference volumes", call(lambda: bland_altman([1.0, 2.0, 3.0, 4.0], [np.nan, np.nan, 2.0, np.nan])), "at least 3 subjects with both volumes, found 1"),
]  # fmt: skip


def test_the_catalogue_is_large_and_every_case_distinct():
    assert len(CATALOGUE) >= 25
    assert len({c.name for c in CATALOGUE}) == len(CATALOGUE)
    # no two cases expect the same message about the same file
    assert len({(c.problem, c.file) for c in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.name for c in CATALOGUE])
def test_bad_input_gets_a_clear_error(case: Bad, tmp_path):
    check = case.build(tmp_path)
    with pytest.raises(InputError) as caught:
        check()
    err = caught.value
    assert re.search(case.problem, err.problem), err.problem
    if case.subject is not None:
        assert err.subject == case.subject, str(err)
        assert f"subject {case.subject}" in str(err)
    if case.file is not None:
        assert err.file is not None and Path(err.file).name == case.file, str(err)
        assert case.file in str(err)
    # what to do: a sentence of advice, at the end of the message
    assert err.fix and len(err.fix.split()) >= 2, str(err)
    assert str(err).endswith(err.fix.rstrip(".") + ".")
