import nibabel as nib
import numpy as np
import pytest
from conftest import make_image
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from wmhmap.geometry import reorient_to_ras
from wmhmap.imageio import like
from wmhmap.preprocess import (
    LinearTransform,
    apply_linear,
    correct_bias_n4,
    normalize_percentiles,
    register_linear,
    transform_error_mm,
    white_matter_cv,
)


def rigid_matrix(angles_deg, shift_mm):
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("xyz", angles_deg, degrees=True).as_matrix()
    m[:3, 3] = shift_mm
    return m


@pytest.fixture(scope="module")
def template_2mm(template):
    """Template T1 and WM at 2 mm (fast registrations and N4)."""
    t1 = ndi.zoom(template.t1, 0.5, order=1)
    wm = ndi.zoom(template.wm, 0.5, order=1) > 0.9
    affine = template.affine.copy()
    affine[:3, :3] *= 2
    return nib.Nifti1Image(t1.astype(np.float32), affine), wm


def test_n4_lowers_white_matter_cv_of_a_known_bias_field(template_2mm):
    img, wm = template_2mm
    xyz = np.indices(img.shape).astype(float)
    bias = np.exp(
        0.35 * (xyz[0] / img.shape[0] - 0.5) + 0.25 * (xyz[2] / img.shape[2] - 0.5) ** 2 * 4
    )
    biased = like(np.asarray(img.dataobj) * bias * 1000, img, np.float32)
    cv_clean = white_matter_cv(img, wm)
    cv_biased = white_matter_cv(biased, wm)
    corrected, field = correct_bias_n4(biased)
    cv_corrected = white_matter_cv(corrected, wm)
    assert cv_biased > 2 * cv_clean  # the field really degrades the image
    assert cv_corrected < 0.6 * cv_biased
    # N4 recovers the field's shape (up to its arbitrary scale); measured 0.94-0.96 for
    # fits at 2-8 mm (the CV ratio 0.29-0.30 throughout)
    est = np.asarray(field.dataobj)[wm]
    assert np.corrcoef(np.log(est), np.log(bias[wm]))[0, 1] > 0.93


def test_linear_transform_file_and_ants_round_trip(tmp_path):
    m = rigid_matrix([4, -7, 10], [3.0, -2.5, 8.0])
    m[:3, :3] *= 1.1
    t = LinearTransform(m)
    t.write(tmp_path / "t.mat")
    np.testing.assert_allclose(LinearTransform.read(tmp_path / "t.mat").matrix_ras, m, atol=1e-6)
    assert LinearTransform(rigid_matrix([0, 0, 12], [0, 0, 0])).rotation_deg() == pytest.approx(12)


def test_apply_linear_follows_point_mapping_order():
    data = np.zeros((40, 40, 40), np.float32)
    data[20, 20, 20] = 1
    img = make_image(data)
    shift = LinearTransform(rigid_matrix([0, 0, 0], [5.0, 0, 0]))
    # the output at x samples the input at x + 5: the dot moves to x = 15
    out = np.asarray(apply_linear(img, img, [shift], interpolation="nearest").dataobj)
    assert tuple(np.argwhere(out == 1)[0]) == (15, 20, 20)
    rot = LinearTransform(rigid_matrix([0, 0, 90], [0, 0, 0]))
    data2 = np.zeros((41, 41, 41), np.float32)
    data2[30, 20, 20] = 1  # world (10, 0, 0) around a centred origin
    centred = make_image(data2, origin=(-20, -20, -20))
    # chain [shift, rot]: x -> rot(shift(x)) (the first transform acts first on
    # reference points); rot(x, y) = (-y, x), so the dot at (10, 0, 0) is reached from
    # shift^-1(rot^-1(10, 0, 0)) = (0, -10, 0) - (5, 0, 0) = (-5, -10, 0)
    out2 = np.asarray(apply_linear(centred, centred, [shift, rot], interpolation="nearest").dataobj)
    assert tuple(np.argwhere(out2 == 1)[0]) == (15, 10, 20)
    out3 = np.asarray(apply_linear(centred, centred, [rot, shift], interpolation="nearest").dataobj)
    assert tuple(np.argwhere(out3 == 1)[0]) == (20, 15, 20)  # (0, -5, 0): order matters


def test_rigid_registration_recovers_a_known_head_motion(simulated_subject):
    """T1w -> FLAIR of a simulated subject: different contrasts, grids and LPS headers."""
    t1 = reorient_to_ras(simulated_subject.t1)
    flair = reorient_to_ras(simulated_subject.flair)
    t1_n4, _ = correct_bias_n4(t1)
    flair_n4, _ = correct_bias_n4(flair)
    estimate = register_linear(flair_n4, t1_n4, kind="Rigid")
    motion = np.asarray(simulated_subject.truth["t1_to_flair_world"])
    truth = np.linalg.inv(motion)  # FLAIR-world points -> T1-world points
    brain = np.argwhere(np.asarray(reorient_to_ras(simulated_subject.regions).dataobj) > 0)
    points = nib.affines.apply_affine(flair.affine, brain)
    assert LinearTransform(motion).rotation_deg() > 1.0  # there is motion to recover
    assert transform_error_mm(estimate, truth, points) < 1.0
    assert LinearTransform(estimate.matrix_ras @ motion).rotation_deg() < 1.0


def test_normalize_percentiles_maps_brain_range_to_unit_interval():
    rng = np.random.default_rng(0)
    data = rng.normal(500, 50, (20, 20, 20)).astype(np.float32)
    data[0, 0, 0] = 1e6  # one hot voxel must not set the scale
    mask = np.ones(data.shape, bool)
    mask[:2] = False
    out = np.asarray(normalize_percentiles(make_image(data), mask, 0, 98).dataobj)
    assert out.min() == 0.0
    assert np.isclose(np.percentile(out[mask], 98), 1.0, atol=1e-3)
    assert out[0, 0, 0] == 0.0  # outside the mask
    assert np.all(out[~mask] == 0)
    assert 0.4 < np.median(out[mask]) < 0.8


def test_normalization_keeps_hyperintensities_above_one():
    data = np.full((20, 20, 20), 100.0, np.float32)
    data[:, :, :10] = 200.0  # "grey matter" brighter than "white matter"
    data[5:7, 5:7, 12:14] = 400.0  # a lesion, 0.2 % of the brain
    out = np.asarray(normalize_percentiles(make_image(data), np.ones(data.shape, bool)).dataobj)
    assert out[6, 6, 13] > 1.5 * out[0, 0, 0]  # lesion stays brighter than the brightest tissue


def test_dilate_mask_matches_a_whole_volume_distance_transform():
    from scipy import ndimage as ndi

    from wmhmap.preprocess import dilate_mask

    mask = np.zeros((40, 50, 20), bool)
    mask[10:14, 20:30, 8:10] = True
    mask[2, 2, 2] = True  # near an edge: the box is clipped to the volume
    img = nib.Nifti1Image(mask.astype(np.uint8), np.diag([0.5, 0.5, 3.0, 1.0]))
    expected = ndi.distance_transform_edt(~mask, sampling=(0.5, 0.5, 3.0)) <= 4.0
    assert np.array_equal(dilate_mask(mask, img, 4.0), expected)
    assert expected.sum() > 10 * mask.sum()  # the radius reaches well beyond the mask
    assert not dilate_mask(np.zeros_like(mask), img, 4.0).any()


REGISTER_TWICE = """
import os, sys
os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = "1"  # what rule scripts set
import nibabel as nib, numpy as np
from wmhmap.antspy import reproducible_registration
from wmhmap.preprocess import register_linear
reproducible_registration()
fixed, moving = nib.load(sys.argv[1]), nib.load(sys.argv[2])
first = register_linear(fixed, moving, kind="Rigid").matrix_ras
second = register_linear(fixed, moving, kind="Rigid").matrix_ras
np.save(sys.argv[3], np.stack([first, second]))
"""


def test_reproducible_registration_is_bit_identical_across_runs(simulated_subject, tmp_path):
    """registration.reproducible: a fixed ANTs seed and one ITK thread (rule scripts set
    both); two registrations in one process and two processes agree to the last bit."""
    import subprocess
    import sys

    nib.save(simulated_subject.flair, tmp_path / "flair.nii.gz")
    nib.save(simulated_subject.t1, tmp_path / "t1.nii.gz")
    script = tmp_path / "register.py"
    script.write_text(REGISTER_TWICE)
    runs = []
    for k in range(2):
        out = tmp_path / f"run{k}.npy"
        args = [sys.executable, str(script), str(tmp_path / "flair.nii.gz")]
        done = subprocess.run(
            [*args, str(tmp_path / "t1.nii.gz"), str(out)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(np.load(out))
    assert np.array_equal(runs[0][0], runs[0][1])
    assert np.array_equal(runs[0], runs[1])
    # and it is a real fit: the simulated head motion is several degrees and millimetres
    assert not np.allclose(runs[0][0], np.eye(4), atol=1e-3)


def thick_slice_phantom(bias_strength=1.0, seed=0):
    """A 0.5 x 0.5 x 8 mm, 16-slice head: WM ellipsoid, brighter GM rim, dark ventricles."""
    shape, sizes = (400, 400, 16), (0.5, 0.5, 8.0)
    x, y, z = ((np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, sizes, strict=True))
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    r = np.sqrt((X / 70) ** 2 + (Y / 85) ** 2 + (Z / 55) ** 2)
    ventricles = np.sqrt((X / 15) ** 2 + (Y / 30) ** 2 + (Z / 20) ** 2) < 1
    tissue = np.where(r < 0.93, 1.0, np.where(r < 1, 1.3, 0.0))
    tissue[ventricles] = 0.3
    brain = r < 1
    bias = np.exp(0.5 * X / 100 + 0.3 * (Y / 100) ** 2 - 0.25 * Z / 64)
    noise = np.random.default_rng(seed).normal(0, 0.02, shape)
    data = 500 * (tissue + noise * brain) * bias**bias_strength
    affine = np.diag([*sizes, 1.0])
    return nib.Nifti1Image(data.astype(np.float32), affine), tissue, brain, bias


def test_n4_on_a_thick_slice_scan_removes_a_known_field_and_keeps_contrast():
    from wmhmap.preprocess import check_contrast_kept, n4_shrink_factors

    img, tissue, brain, bias = thick_slice_phantom()
    assert n4_shrink_factors(img.shape, (0.5, 0.5, 8.0), 6.0) == (12, 12, 1)
    corrected, field = correct_bias_n4(img, mask=like(brain, img, np.uint8))
    out = np.asarray(corrected.dataobj)
    wm = (tissue == 1.0) & brain
    gm = (tissue == 1.3) & brain
    biased_cv = white_matter_cv(img, wm)
    assert white_matter_cv(corrected, wm) < 0.25 * biased_cv  # measured 0.04 of 0.20
    # the field's shape (up to N4's arbitrary scale) and the tissue contrast survive
    est = np.log(np.asarray(field.dataobj)[brain])
    assert np.corrcoef(est, np.log(bias[brain]))[0, 1] > 0.97
    assert np.median(out[gm]) / np.median(out[wm]) == pytest.approx(1.3, abs=0.05)
    assert check_contrast_kept(img, corrected, brain) > 0.5


def test_a_bias_correction_that_flattens_the_brain_is_refused():
    from wmhmap.errors import InputError
    from wmhmap.preprocess import check_contrast_kept

    img, _, brain, _ = thick_slice_phantom()
    flat = like(np.where(brain, 1.0, 0.0), img, np.float32)  # what N4 on one slice gave
    with pytest.raises(InputError, match="lost its contrast") as error:
        check_contrast_kept(img, flat, brain, subject="007", file="sub-007_FLAIR.nii.gz")
    assert "subject 007" in str(error.value) and "sub-007_FLAIR.nii.gz" in str(error.value)
