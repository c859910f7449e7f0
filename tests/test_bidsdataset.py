"""BIDS input: subjects, sessions, scans and metadata found in a dataset written here."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from wmhmap.bidsdataset import BidsSelection, discover
from wmhmap.errors import InputError
from wmhmap.samplesheet import (
    cohort_table,
    has_sessions,
    statistics_visits,
    validate_samplesheet,
)


def touch(root: Path, relative: str, text: str = "") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_tsv(root: Path, relative: str, rows: list[dict[str, str]]) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def description(root: Path) -> None:
    touch(root, "dataset_description.json", json.dumps({"Name": "tiny", "BIDSVersion": "1.9.0"}))


@pytest.fixture
def sessions_dataset(tmp_path: Path) -> Path:
    """Three subjects in sessions: one with two visits, one lacking T1w, one with only DWI."""
    root = tmp_path / "bids"
    description(root)
    for ses in ("1", "2"):
        touch(root, f"sub-01/ses-{ses}/anat/sub-01_ses-{ses}_FLAIR.nii.gz")
        touch(root, f"sub-01/ses-{ses}/anat/sub-01_ses-{ses}_T1w.nii.gz")
        touch(root, f"sub-01/ses-{ses}/anat/sub-01_ses-{ses}_T1w.json", "{}")
    touch(root, "sub-02/ses-1/anat/sub-02_ses-1_acq-3D_FLAIR.nii")
    touch(root, "sub-03/ses-1/dwi/sub-03_ses-1_dwi.nii.gz")
    touch(root, "sub-03/ses-1/anat/sub-03_ses-1_T2w.nii.gz")
    touch(root, "derivatives/other/sub-09/anat/sub-09_FLAIR.nii.gz")  # not a subject
    write_tsv(
        root,
        "participants.tsv",
        [
            {
                "participant_id": "sub-01",
                "group": "AD",
                "age": "70",
                "sex": "male",
                "handedness": "R",
                "site": "A",
            },
            {
                "participant_id": "sub-02",
                "group": "HC",
                "age": "n/a",
                "sex": "F",
                "handedness": "L",
                "site": "B",
            },
            {
                "participant_id": "sub-03",
                "group": "CN",
                "age": "60",
                "sex": "M",
                "handedness": "R",
                "site": "A",
            },
            {
                "participant_id": "sub-99",
                "group": "CN",
                "age": "60",
                "sex": "M",
                "handedness": "R",
                "site": "A",
            },
        ],
    )
    write_tsv(
        root,
        "sub-01/sub-01_sessions.tsv",
        [{"session_id": "ses-1", "age": "70.5"}, {"session_id": "ses-2", "age": "72.5"}],
    )
    return root


SELECTION = BidsSelection(columns={"diagnosis": "group"}, diagnosis_labels={"HC": "CN"})


def test_sessions_dataset_gives_one_row_per_visit_with_its_metadata(sessions_dataset):
    table = discover(sessions_dataset, SELECTION)
    root = sessions_dataset
    assert table[["subject", "session"]].values.tolist() == [["01", "1"], ["01", "2"], ["02", "1"]]
    first, second, lacking_t1 = (row for _, row in table.iterrows())
    assert first.flair == str(root / "sub-01/ses-1/anat/sub-01_ses-1_FLAIR.nii.gz")
    assert first.t1 == str(root / "sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz")
    assert lacking_t1.flair == str(root / "sub-02/ses-1/anat/sub-02_ses-1_acq-3D_FLAIR.nii")
    assert lacking_t1.t1 == ""
    # age per visit from sessions.tsv, the rest from participants.tsv
    assert (first.age, second.age, lacking_t1.age) == ("70.5", "72.5", "")
    assert (first.diagnosis, lacking_t1.diagnosis) == ("AD", "CN")  # HC renamed
    assert (first.sex, lacking_t1.sex) == ("M", "F")  # "male" normalised
    assert (first.site, lacking_t1.site) == ("A", "B")
    assert "handedness" not in table.columns  # extra columns are not carried

    samples = validate_samplesheet(table, file=root / "participants.tsv")
    assert samples.index.tolist() == ["01_ses-1", "01_ses-2", "02_ses-1"]
    assert has_sessions(samples)
    cohort = cohort_table(samples)
    assert cohort.subject.tolist() == ["01_ses-1", "01_ses-2", "02_ses-1"]
    assert statistics_visits(samples) == ["01_ses-1", "02_ses-1"]
    assert statistics_visits(samples, "2") == ["01_ses-2"]
    assert cohort_table(samples, statistics_visits(samples)).subject.tolist() == [
        "01_ses-1",
        "02_ses-1",
    ]
    assert cohort.participant_id.tolist() == ["sub-01", "sub-01", "sub-02"]
    assert cohort.session_id.tolist() == ["ses-1", "ses-2", "ses-1"]


def test_dataset_without_sessions(tmp_path):
    root = tmp_path / "bids"
    description(root)
    touch(root, "sub-A1/anat/sub-A1_FLAIR.nii.gz")
    touch(root, "sub-A1/anat/sub-A1_T1w.nii.gz")
    touch(root, "sub-B2/anat/sub-B2_T1w.nii.gz")
    table = discover(root)  # no participants.tsv: metadata left empty
    assert "session" not in table.columns
    assert table.subject.tolist() == ["A1", "B2"]
    assert table.flair.tolist()[1] == "" and table.t1.tolist()[1].endswith("sub-B2_T1w.nii.gz")
    assert (table.diagnosis == "").all()
    samples = validate_samplesheet(table, file=root / "participants.tsv")
    assert samples.index.tolist() == ["A1", "B2"] and not has_sessions(samples)


def test_participant_and_session_filters(sessions_dataset):
    def visits(**kw):
        t = discover(sessions_dataset, BidsSelection(**kw))
        return list(zip(t.subject, t.session, strict=True))

    assert visits(participant_label=["02"]) == [("02", "1")]
    assert visits(exclude_participant_label=["01"]) == [("02", "1")]
    assert visits(session_label=["2"]) == [("01", "2")]
    selection = BidsSelection.from_config(
        {"participant_label": ["sub-01"], "session_label": ["ses-1", 2]}
    )
    assert selection.participant_label == ["01"] and selection.session_label == ["1", "2"]


def test_entities_pick_one_of_several_runs(tmp_path):
    root = tmp_path / "bids"
    description(root)
    for run in (1, 2):
        touch(root, f"sub-01/anat/sub-01_run-{run}_FLAIR.nii.gz")
    with pytest.raises(InputError, match="2 FLAIR scans match") as err:
        discover(root)
    assert "sub-01_run-1_FLAIR.nii.gz" in str(err.value) and "Fix:" in str(err.value)
    table = discover(root, BidsSelection(entities={"FLAIR": {"run": "2"}}))
    assert table.flair.iloc[0].endswith("sub-01_run-2_FLAIR.nii.gz")


def test_expert_masks_come_from_a_derivatives_folder(sessions_dataset):
    masks = sessions_dataset / "derivatives" / "manual"
    touch(masks, "sub-01/ses-2/anat/sub-01_ses-2_space-FLAIR_label-WMH_mask.nii.gz")
    touch(masks, "sub-01/ses-2/anat/sub-01_ses-2_label-brain_mask.nii.gz")
    table = discover(sessions_dataset, BidsSelection(lesion_masks=masks))
    assert table.lesion_mask.tolist() == [
        "",
        str(masks / "sub-01/ses-2/anat/sub-01_ses-2_space-FLAIR_label-WMH_mask.nii.gz"),
        "",
    ]


def test_region_maps_come_from_a_derivatives_folder(sessions_dataset):
    maps = sessions_dataset / "derivatives" / "regions"
    touch(maps, "sub-01/ses-1/anat/sub-01_ses-1_space-FLAIR_desc-regions_dseg.nii.gz")
    table = discover(sessions_dataset, BidsSelection.from_config({"region_maps": str(maps)}))
    assert table.region_map.tolist() == [
        str(maps / "sub-01/ses-1/anat/sub-01_ses-1_space-FLAIR_desc-regions_dseg.nii.gz"),
        "",
        "",
    ]
    touch(maps, "sub-01/ses-1/anat/sub-01_ses-1_desc-other_dseg.nii.gz")
    with pytest.raises(InputError, match="2 region maps") as err:
        discover(sessions_dataset, BidsSelection(region_maps=maps))
    assert "keep one *_dseg.nii.gz" in str(err.value)
    with pytest.raises(InputError, match="region maps derivatives folder not found"):
        discover(sessions_dataset, BidsSelection(region_maps=maps / "absent"))


@pytest.mark.parametrize(
    ("break_it", "message", "names"),
    [
        (
            lambda r: (r / "dataset_description.json").unlink(),
            "dataset_description.json is missing",
            "",
        ),
        (
            lambda r: touch(r, "dataset_description.json", "{oops"),
            "not valid JSON",
            "dataset_description.json",
        ),
        (
            lambda r: touch(r, "sub-0_1/anat/sub-0_1_FLAIR.nii.gz"),
            "not a BIDS subject label",
            "sub-0_1",
        ),
        (
            lambda r: touch(r, "sub-01/ses-1/anat/sub-02_ses-1_FLAIR.nii.gz"),
            "names another subject or session",
            "sub-02_ses-1_FLAIR.nii.gz",
        ),
        (
            lambda r: touch(r, "sub-04/anat/sub-04_FLAIR.nii.gz"),
            "has ses-\\* folders but sub-04 has none",
            "",
        ),
        (
            lambda r: write_tsv(r, "participants.tsv", [{"subject": "sub-01", "group": "AD"}]),
            "lacks the participant_id column",
            "participants.tsv",
        ),
        (
            lambda r: write_tsv(r, "participants.tsv", [{"participant_id": "sub-01", "dx": "AD"}]),
            "has no column group",
            "participants.tsv",
        ),
    ],
)
def test_malformed_datasets_are_refused_with_file_and_fix(
    sessions_dataset, break_it, message, names
):
    break_it(sessions_dataset)
    with pytest.raises(InputError, match=message) as err:
        discover(sessions_dataset, SELECTION)
    text = str(err.value)
    assert "Fix:" in text and names in text and str(sessions_dataset) in text


def test_missing_folder_and_empty_dataset(tmp_path):
    with pytest.raises(InputError, match="folder not found"):
        discover(tmp_path / "nowhere")
    root = tmp_path / "bids"
    description(root)
    with pytest.raises(InputError, match="no sub-<label> folders"):
        discover(root)
    touch(root, "sub-01/anat/sub-01_T2w.nii.gz")
    with pytest.raises(InputError, match="has a FLAIR or T1w scan"):
        discover(root)
    touch(root, "sub-01/anat/sub-01_FLAIR.nii.gz")
    with pytest.raises(InputError, match="has a FLAIR or T1w scan"):
        discover(root, BidsSelection(participant_label=["02"]))
    with pytest.raises(InputError, match="unknown sample-sheet column"):
        discover(root, BidsSelection(columns={"dx": "group"}))


def test_unknown_diagnosis_is_caught_by_the_sheet_checks(sessions_dataset):
    table = discover(sessions_dataset, BidsSelection(columns={"diagnosis": "group"}))
    with pytest.raises(InputError, match="'HC' is not one of CN, MCI, AD") as err:
        validate_samplesheet(table, file=sessions_dataset / "participants.tsv")
    assert "subject 02" in str(err.value)


def test_cli_validates_a_bids_dataset_and_writes_its_cohort(sessions_dataset, tmp_path, capsys):
    from wmhmap.cli import main

    out = tmp_path / "cohort.tsv"
    assert main(["validate", "--bids", str(sessions_dataset), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 subjects, 3 visits (FLAIR + T1w: 2, FLAIR: 1)" in printed
    cohort = pd.read_csv(out, sep="\t", dtype=str)
    assert cohort.subject.tolist() == ["01_ses-1", "01_ses-2", "02_ses-1"]
    assert main(["validate", "--bids", str(sessions_dataset), "--session-label", "2"]) == 0
    assert "1 subjects, 1 visits" in capsys.readouterr().out
    # --images reads each scan: the fixture's are empty files
    assert main(["validate", "--bids", str(sessions_dataset), "--images"]) == 2
    error = capsys.readouterr().err
    assert "subject 01_ses-1" in error and "sub-01_ses-1_FLAIR.nii.gz" in error


def test_visits_are_ordered_in_time_for_the_statistics(tmp_path):
    root = tmp_path / "bids"
    description(root)
    for ses in ("baseline", "followup"):
        touch(root, f"sub-01/ses-{ses}/anat/sub-01_ses-{ses}_FLAIR.nii.gz")
    for ses in ("2", "10"):
        touch(root, f"sub-02/ses-{ses}/anat/sub-02_ses-{ses}_FLAIR.nii.gz")
    # label order says baseline < followup; the scan dates say otherwise
    write_tsv(
        root,
        "sub-01/sub-01_sessions.tsv",
        [
            {"session_id": "ses-baseline", "acq_time": "2021-05-02T10:00:00"},
            {"session_id": "ses-followup", "acq_time": "2019-01-15T09:30:00"},
        ],
    )
    samples = validate_samplesheet(discover(root), file=root / "participants.tsv")
    assert samples.index.tolist() == ["01_ses-followup", "01_ses-baseline", "02_ses-2", "02_ses-10"]
    assert statistics_visits(samples) == ["01_ses-followup", "02_ses-2"]
