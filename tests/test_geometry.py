import nibabel as nib
import numpy as np
import pytest
from conftest import REPO, make_image

from wmhmap.geometry import (
    fov_overlap,
    from_ants,
    orientation_code,
    reorient,
    reorient_to_ras,
    to_ants,
)


def lps_image():
    rng = np.random.default_rng(3)
    affine = np.array([[-1.2, 0, 0, 90], [0, -0.9, 0, 110], [0, 0, 3.0, -60], [0, 0, 0, 1]])
    return nib.Nifti1Image(rng.random((20, 30, 12)).astype(np.float32), affine)


def test_orientation_codes_round_trip():
    img = lps_image()
    assert orientation_code(img) == "LPS"
    ras = reorient_to_ras(img)
    assert orientation_code(ras) == "RAS"
    back = reorient(ras, "LPS")
    assert orientation_code(back) == "LPS"
    np.testing.assert_array_equal(np.asarray(back.dataobj), np.asarray(img.dataobj))
    np.testing.assert_allclose(back.affine, img.affine)


@pytest.mark.parametrize("code", ["RAS", "LPS", "LAS", "PIR", "ASL"])
def test_reorientation_keeps_every_voxel_at_its_world_position(code):
    img = lps_image()
    out = reorient(img, code)
    assert orientation_code(out) == code
    data, out_data = np.asarray(img.dataobj), np.asarray(out.dataobj)
    for ijk in [(0, 0, 0), (5, 7, 3), (19, 29, 11)]:
        world = nib.affines.apply_affine(img.affine, ijk)
        out_ijk = np.rint(nib.affines.apply_affine(np.linalg.inv(out.affine), world)).astype(int)
        assert out_data[tuple(out_ijk)] == data[ijk]


def test_ants_round_trip_keeps_data_and_affine():
    img = lps_image()
    back = from_ants(to_ants(img))
    np.testing.assert_allclose(back.affine, img.affine, atol=1e-5)
    np.testing.assert_allclose(np.asarray(back.dataobj), np.asarray(img.dataobj))


def test_fov_overlap():
    a = make_image(np.zeros((10, 10, 10)))
    assert fov_overlap(a, a) == pytest.approx(1.0)
    shifted = make_image(np.zeros((10, 10, 10)), origin=(5, 0, 0))
    assert fov_overlap(a, shifted) == pytest.approx(0.5)
    far = make_image(np.zeros((10, 10, 10)), origin=(50, 0, 0))
    assert fov_overlap(a, far) == 0.0


def test_ants_loads_without_its_unused_subpackages_and_with_what_wmhmap_calls():
    import subprocess
    import sys

    code = (
        "import sys; from wmhmap.antspy import load_ants; ants = load_ants(); "
        "names = ['n4_bias_field_correction', 'registration', 'apply_transforms', "
        "'resample_image', 'atropos', 'image_mutual_information', 'read_transform', "
        "'write_transform', 'create_ants_transform', 'from_nibabel_nifti', "
        "'to_nibabel_nifti']; "
        "grid = __import__('numpy').arange(1.0, 101.0).reshape(10, 10); "
        "q = float(ants.quantile(ants.from_numpy(grid), 0.5)); "  # a deferred module
        "missing = [n for n in names if not hasattr(ants, n)]; "
        "heavy = [m for m in ('sklearn', 'matplotlib') if m in sys.modules]; "
        "print(missing, heavy, q)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[] [] 50.5", out.stdout + out.stderr
