import gzip
import os
import stat

import nibabel as nib
import numpy as np
import pytest
from conftest import make_image

from wmhmap.errors import InputError
from wmhmap.imageio import atomic_open, atomic_path, load_image, save_image, voxel_volume_mm3


def write(tmp_path, data, name="img.nii.gz", affine=None, dtype=np.float32):
    img = nib.Nifti1Image(np.asarray(data).astype(dtype), np.eye(4))
    if affine is not None:  # written to the sform only: a broken header cannot be a qform
        img.set_qform(None, code=0)
        img.set_sform(affine, code=1)
    path = tmp_path / name
    nib.save(img, path)
    return path


def test_loads_a_valid_image(tmp_path):
    path = write(tmp_path, np.arange(60).reshape(3, 4, 5))
    img = load_image(path, subject="001", role="FLAIR")
    assert img.shape == (3, 4, 5) and img.get_data_dtype() == np.float32


def test_trailing_singleton_axis_is_dropped(tmp_path):
    path = write(tmp_path, np.arange(60).reshape(3, 4, 5, 1))
    assert load_image(path).shape == (3, 4, 5)


@pytest.mark.parametrize(
    ("data", "affine", "message"),
    [
        (np.ones((3, 4, 5, 2)), None, r"4-D \(shape 3x4x5x2\), expected a 3-D volume"),
        (np.ones((30, 40)), None, r"2-D \(shape 30x40\)"),
        (
            np.where(np.eye(4)[:, :, None] > 0, np.nan, 1.0) * np.ones((4, 4, 3)),
            None,
            "NaN or infinite",
        ),
        (np.arange(60).reshape(3, 4, 5), np.diag([1, 1, 0, 1]), "degenerate"),
        (np.arange(60).reshape(3, 4, 5), np.diag([50, 1, 1, 1]), "implausible voxel size"),
        (np.ones((3, 4, 5)), None, "constant"),
    ],
)
def test_unusable_images_are_refused_with_subject_file_and_fix(tmp_path, data, affine, message):
    path = write(tmp_path, data, affine=affine)
    with pytest.raises(InputError, match=message) as err:
        load_image(path, subject="042", role="T1w")
    text = str(err.value)
    assert "subject 042" in text and str(path) in text and "Fix:" in text


def test_missing_file_names_the_sample_sheet(tmp_path):
    with pytest.raises(InputError, match=r"does not exist.*sample sheet"):
        load_image(tmp_path / "nope.nii.gz", subject="001", role="FLAIR")


def test_truncated_file_is_reported_as_corrupt(tmp_path):
    path = write(tmp_path, np.random.default_rng(0).random((40, 40, 40)))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="corrupt, truncated"):
        load_image(path, subject="001", role="FLAIR")


def test_not_a_nifti_file(tmp_path):
    path = tmp_path / "scan.nii.gz"
    path.write_bytes(gzip.compress(b"this is a DICOM export gone wrong" * 20))
    with pytest.raises(InputError, match="cannot be read as NIfTI"):
        load_image(path)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half a table")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_nifti_suffix_and_moves_into_place(tmp_path):
    target = tmp_path / "a" / "img.nii.gz"
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.parent == target.parent
    save_image(make_image(np.ones((2, 3, 4)), zooms=(0.5, 0.5, 3)), target)
    back = nib.load(target)
    assert back.shape == (2, 3, 4) and voxel_volume_mm3(back) == pytest.approx(0.75)


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    """Not mkstemp's 0600: results get the mode any new file gets (readable by the lab
    group under the usual umask 022 or 002)."""
    umask = os.umask(0)
    os.umask(umask)
    target = tmp_path / "table.tsv"
    with atomic_open(target) as fh:
        fh.write("a\n")
    plain = tmp_path / "plain.tsv"
    plain.write_text("a\n")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
