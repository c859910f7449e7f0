import pandas as pd
import pytest

from wmhmap.errors import InputError
from wmhmap.samplesheet import COLUMNS, analysis_modality, load_samplesheet, modalities


@pytest.fixture
def data_dir(tmp_path):
    names = ("a_flair.nii.gz", "a_t1.nii.gz", "b_flair.nii.gz", "b_mask.nii.gz", "b_dseg.nii.gz")
    for name in names:
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def sheet(path, rows, columns=("subject", "flair", "t1")):
    df = pd.DataFrame(rows, columns=list(columns))
    df.to_csv(path / "samples.tsv", sep="\t", index=False)
    return path / "samples.tsv"


def test_valid_sheet_resolves_relative_paths(data_dir):
    path = sheet(
        data_dir,
        [
            [
                "001",
                "a_flair.nii.gz",
                "a_t1.nii.gz",
                "AD",
                "siteA",
                "71.5",
                "F",
                "3.2",
                "",
                "",
                "train",
            ],
            [
                "002",
                "b_flair.nii.gz",
                "",
                "CN",
                "siteB",
                "",
                "M",
                "",
                "b_mask.nii.gz",
                "b_dseg.nii.gz",
                "test",
            ],
        ],
        columns=COLUMNS,
    )
    df = load_samplesheet(path)
    assert df.index.tolist() == ["001", "002"]
    assert df.loc["001", "flair"] == str(data_dir / "a_flair.nii.gz")
    assert modalities(df.loc["001"]) == ["FLAIR", "T1w"]
    assert modalities(df.loc["002"]) == ["FLAIR"]
    assert analysis_modality(df.loc["002"]) == "FLAIR"
    assert df.loc["002", "region_map"] == str(data_dir / "b_dseg.nii.gz")
    assert df.loc["001", "region_map"] == ""


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        ([["001", "a_flair.nii.gz"]], ("id", "flair"), r"lacks the column\(s\) subject"),
        (
            [["001", "a_flair.nii.gz", "x"]],
            ("subject", "flair", "scanner"),
            r"unknown column\(s\) scanner",
        ),
        (
            [["001", "a_flair.nii.gz"], ["001", "b_flair.nii.gz"]],
            ("subject", "flair"),
            "appears on lines 2 and 3",
        ),
        ([["sub-01", "a_flair.nii.gz"]], ("subject", "flair"), "other than letters and digits"),
        ([["001", "", ""]], ("subject", "flair", "t1"), "neither a FLAIR nor a T1w"),
        ([["001", "missing.nii.gz"]], ("subject", "flair"), "does not exist"),
        (
            [["001", "a_flair.nii.gz", "Alzheimer"]],
            ("subject", "flair", "diagnosis"),
            "not one of CN, MCI, AD",
        ),
        (
            [["001", "a_flair.nii.gz", "seventy"]],
            ("subject", "flair", "age"),
            "not a non-negative number",
        ),
        (
            [["001", "a_flair.nii.gz", "-2"]],
            ("subject", "flair", "reference_wmh_ml"),
            "not a non-negative",
        ),
        ([["001", "a_flair.nii.gz", "female"]], ("subject", "flair", "sex"), "not M or F"),
        (
            [["001", "a_flair.nii.gz", "validation"]],
            ("subject", "flair", "split"),
            "not train or test",
        ),
    ],
)
def test_bad_sheets_name_subject_and_fix(data_dir, rows, columns, message):
    path = sheet(data_dir, rows, columns)
    with pytest.raises(InputError, match=message) as err:
        load_samplesheet(path)
    assert str(path) in str(err.value) and "Fix:" in str(err.value)


def test_path_escaping_the_dataset_root_is_refused(data_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "x_flair.nii.gz"
    outside.write_bytes(b"")
    path = sheet(data_dir, [["001", str(outside)]], ("subject", "flair"))
    with pytest.raises(InputError, match="outside the dataset root"):
        load_samplesheet(path, allowed_root=data_dir)
    relative_escape = sheet(
        data_dir, [["001", "../" + outside.parent.name + "/x_flair.nii.gz"]], ("subject", "flair")
    )
    with pytest.raises(InputError, match="outside the dataset root"):
        load_samplesheet(relative_escape, allowed_root=data_dir)


def test_missing_sheet_explains_the_demo(tmp_path):
    with pytest.raises(InputError, match="empty runs the demo"):
        load_samplesheet(tmp_path / "none.tsv")


def test_a_session_column_makes_each_row_a_visit(data_dir):
    path = sheet(
        data_dir,
        [["001", "1", "a_flair.nii.gz"], ["001", "2", "b_flair.nii.gz"]],
        ("subject", "session", "flair"),
    )
    df = load_samplesheet(path)
    assert df.index.tolist() == ["001_ses-1", "001_ses-2"]
    assert df.subject.tolist() == ["001", "001"] and df.session.tolist() == ["1", "2"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["001", "1", "a_flair.nii.gz"], ["001", "1", "b_flair.nii.gz"]], "'001_ses-1' appears"),
        ([["001", "1", "a_flair.nii.gz"], ["002", "", "b_flair.nii.gz"]], "session is empty"),
        ([["001", "m-12", "a_flair.nii.gz"]], "session 'm-12' holds characters"),
    ],
)
def test_bad_sessions_are_refused(data_dir, rows, message):
    path = sheet(data_dir, rows, ("subject", "session", "flair"))
    with pytest.raises(InputError, match=message) as err:
        load_samplesheet(path)
    assert "Fix:" in str(err.value)
