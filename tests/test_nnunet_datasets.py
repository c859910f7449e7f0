import json

import nibabel as nib
import numpy as np
import pytest

from wmhmap.errors import InputError
from wmhmap.nnunet.datasets import (
    TrainingSubject,
    cases_for,
    channel_names,
    grouped_splits,
    lesion_labels,
    region_labels,
    write_raw_dataset,
)


def image(path, data, affine=None):
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), path)
    return path


@pytest.fixture
def subjects(tmp_path):
    rng = np.random.default_rng(0)
    out = []
    for name, modalities in (
        ("001", ("FLAIR", "T1w")),
        ("002", ("FLAIR", "T1w")),
        ("003", ("FLAIR",)),
    ):
        images = {
            m: image(tmp_path / f"{name}_{m}.nii.gz", rng.random((8, 9, 10)).astype(np.float32))
            for m in modalities
        }
        label = np.zeros((8, 9, 10), np.uint8)
        label[2:4, 2:4, 2:4] = 1
        out.append(TrainingSubject(name, images, image(tmp_path / f"{name}_label.nii.gz", label)))
    return out


def write_lesion_dataset(tmp_path, subjects, input_mode, name):
    """A background/WMH raw dataset of ``subjects`` under ``tmp_path / name``."""
    return write_raw_dataset(
        tmp_path / name,
        subjects,
        input_mode=input_mode,
        labels={"background": 0, "WMH": 1},
        dataset_name=name,
        description="test",
    )


def test_single_channel_cases_double_the_training_set(subjects, tmp_path):
    dataset = write_lesion_dataset(tmp_path, subjects, "single_channel", "Dataset501_WMHLesion")
    assert [c.identifier for c in dataset.cases] == [
        "001_FLAIR",
        "001_T1w",
        "002_FLAIR",
        "002_T1w",
        "003_FLAIR",
    ]
    images = sorted(p.name for p in (dataset.folder / "imagesTr").iterdir())
    assert images == [
        f"{c}_0000.nii.gz" for c in ("001_FLAIR", "001_T1w", "002_FLAIR", "002_T1w", "003_FLAIR")
    ]
    labels = sorted(p.name for p in (dataset.folder / "labelsTr").iterdir())
    assert labels == [
        f"{c}.nii.gz" for c in ("001_FLAIR", "001_T1w", "002_FLAIR", "002_T1w", "003_FLAIR")
    ]
    meta = json.loads((dataset.folder / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "MRI"}
    assert meta["labels"] == {"background": 0, "WMH": 1}
    assert meta["numTraining"] == 5 and meta["file_ending"] == ".nii.gz"
    assert meta["overwrite_image_reader_writer"] == "NibabelIO"
    assert meta["case_subjects"]["001_T1w"] == "001"
    assert nib.load(dataset.folder / "labelsTr" / "001_T1w.nii.gz").get_data_dtype() == np.uint8


def test_multichannel_needs_both_modalities(subjects, tmp_path):
    dataset = write_lesion_dataset(tmp_path, subjects, "multichannel", "Dataset501_X")
    assert [c.identifier for c in dataset.cases] == ["001", "002"]
    assert sorted(p.name for p in (dataset.folder / "imagesTr").iterdir())[:2] == [
        "001_0000.nii.gz",
        "001_0001.nii.gz",
    ]
    assert json.loads((dataset.folder / "dataset.json").read_text())["channel_names"] == {
        "0": "FLAIR",
        "1": "T1w",
    }
    assert channel_names("multichannel") == {0: "FLAIR", 1: "T1w"}


def test_label_outside_the_label_set_names_the_subject(subjects, tmp_path):
    bad = np.zeros((8, 9, 10), np.uint8)
    bad[0, 0, 0] = 7
    subjects[1] = TrainingSubject("002", subjects[1].images, image(tmp_path / "bad.nii.gz", bad))
    with pytest.raises(InputError, match=r"subject 002.*values \[7\]"):
        write_lesion_dataset(tmp_path, subjects, "single_channel", "D")


def test_label_on_another_grid_is_refused(subjects, tmp_path):
    label = np.zeros((8, 9, 10), np.uint8)
    subjects[0] = TrainingSubject(
        "001", subjects[0].images, image(tmp_path / "shifted.nii.gz", label, np.diag([2, 2, 2, 1]))
    )
    with pytest.raises(InputError, match="different grids"):
        write_lesion_dataset(tmp_path, subjects, "single_channel", "D")


def test_grouped_splits_keep_a_subjects_cases_together():
    case_subjects = {f"{s:03d}_{m}": f"{s:03d}" for s in range(11) for m in ("FLAIR", "T1w")}
    splits = grouped_splits(case_subjects, 5, seed=3)
    assert len(splits) == 5
    seen = []
    for split in splits:
        val_subjects = {case_subjects[c] for c in split["val"]}
        train_subjects = {case_subjects[c] for c in split["train"]}
        assert not val_subjects & train_subjects
        assert set(split["val"]) | set(split["train"]) == set(case_subjects)
        assert len(val_subjects) in (2, 3)
        seen += sorted(val_subjects)
    assert sorted(seen) == sorted(set(case_subjects.values()))  # every subject validated once
    assert splits == grouped_splits(case_subjects, 5, seed=3)  # deterministic
    assert splits != grouped_splits(case_subjects, 5, seed=4)


def test_too_few_subjects_for_the_folds():
    with pytest.raises(InputError, match="3 training subjects cannot fill 5 folds"):
        grouped_splits({"a": "a", "b": "b", "c": "c"}, 5, 0)


def test_label_sets():
    assert lesion_labels([np.array([0, 1])]) == {"background": 0, "WMH": 1}
    assert lesion_labels([np.array([0, 1]), np.array([2])]) == {
        "background": 0,
        "WMH": 1,
        "ignore": 2,
    }
    labels = region_labels(range(1, 35))
    assert len(labels) == 35 and labels["region_34"] == 34
    with pytest.raises(InputError, match="without gaps"):
        region_labels([1, 2, 4])
    assert [
        c.identifier for c in cases_for(TrainingSubject("9", {"T1w": "t"}, "l"), "single_channel")
    ] == ["9_T1w"]
