import nibabel as nib
import numpy as np
import pytest

from wmhmap.errors import InputError
from wmhmap.validation import validate_subject


def save(path, data, affine=None, dtype=np.float32):
    nib.save(
        nib.Nifti1Image(np.asarray(data).astype(dtype), np.eye(4) if affine is None else affine),
        path,
    )
    return str(path)


@pytest.fixture
def subject(tmp_path):
    rng = np.random.default_rng(1)
    flair = save(tmp_path / "flair.nii.gz", rng.random((20, 20, 10)), np.diag([1, 1, 3, 1]))
    t1 = save(tmp_path / "t1.nii.gz", rng.random((30, 30, 30)))
    mask = np.zeros((20, 20, 10))
    mask[5:8, 5:8, 4] = 1
    lesion = save(tmp_path / "mask.nii.gz", mask, np.diag([1, 1, 3, 1]), np.uint8)
    return {"subject": "007", "flair": flair, "t1": t1, "lesion_mask": lesion}


def test_valid_subject_report(subject):
    report = validate_subject(subject, check_brain=False)
    assert report["status"] == "ok"
    assert report["images"]["FLAIR"]["voxel_mm"] == [1.0, 1.0, 3.0]
    assert report["lesion_mask"]["lesion_voxels"] == 9
    # FLAIR z extent [-1.5, 28.5] mm, T1w [-0.5, 29.5]: 29 of the FLAIR's 30 mm are shared
    assert report["fov_overlap"] == pytest.approx(29 / 30, abs=1e-3)


def test_empty_mask_is_valid(subject, tmp_path):
    subject["lesion_mask"] = save(
        tmp_path / "empty.nii.gz", np.zeros((20, 20, 10)), np.diag([1, 1, 3, 1]), np.uint8
    )
    assert validate_subject(subject, check_brain=False)["lesion_mask"]["lesion_voxels"] == 0


def test_t1_and_flair_that_do_not_overlap(subject, tmp_path):
    far = np.eye(4)
    far[:3, 3] = 500
    subject["t1"] = save(
        tmp_path / "far.nii.gz", np.random.default_rng(2).random((30, 30, 30)), far
    )
    with pytest.raises(InputError, match=r"subject 007.*share only 0%"):
        validate_subject(subject, check_brain=False)


def test_probability_map_as_mask_is_refused(subject, tmp_path):
    subject["lesion_mask"] = save(
        tmp_path / "prob.nii.gz", np.full((20, 20, 10), 0.3), np.diag([1, 1, 3, 1])
    )
    with pytest.raises(InputError, match="threshold a probability map"):
        validate_subject(subject, check_brain=False)


def test_mask_on_another_grid_is_refused(subject, tmp_path):
    subject["lesion_mask"] = save(
        tmp_path / "t1grid.nii.gz", np.zeros((30, 30, 30)), None, np.uint8
    )
    with pytest.raises(InputError, match="differs from the FLAIR grid"):
        validate_subject(subject, check_brain=False)


def test_a_scan_without_a_brain_fails_validation_naming_the_file(subject, simulated_subject):
    """Noise in place of the FLAIR: the report names the subject, the file and the fix."""
    nib.save(simulated_subject.t1, subject["t1"])
    rng = np.random.default_rng(3)
    t1 = simulated_subject.t1  # the noise fills the T1w's field of view
    noise = save(subject["flair"], rng.normal(100, 10, t1.shape).clip(0), t1.affine)
    subject.pop("lesion_mask")
    with pytest.raises(InputError, match="no brain") as error:
        validate_subject(subject)
    assert "subject 007" in str(error.value) and noise in str(error.value)
    subject["flair"] = ""
    report = validate_subject(subject)  # the T1w alone is a brain
    assert report["status"] == "ok" and report["images"]["T1w"]["brain_ml"] > 1000
