"""Segmentation metrics with the MICCAI 2017 WMH challenge definitions."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage
from scipy.spatial import KDTree

from wmhmap.errors import InputError
from wmhmap.metrics import (
    METRIC_NAMES,
    avd,
    challenge_masks,
    dice,
    evaluate_segmentation,
    evaluate_segmentation_from_files,
    evaluate_segmentation_images,
    hd95,
    lesion_boundary,
    lesion_f1,
    lesion_precision,
    lesion_recall,
    region_dice,
)
from wmhmap.regions import Region, RegionTable

TABLE = RegionTable(
    (
        Region(1, "left", "frontal", ()),
        Region(2, "left", "parietal", ()),
        Region(3, "right", "frontal", ()),
        Region(4, "right", "parietal", ()),
    )
)


def cube(shape, *slices):
    mask = np.zeros(shape, dtype=np.uint8)
    mask[slices] = 1
    return mask


def to_sitk(array, spacing=(1.0, 1.0, 1.0)):
    """A SimpleITK image whose (x, y, z) are the array's axes 0, 1, 2 (as nibabel reads them)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)).astype(np.uint8))
    image.SetSpacing(tuple(float(s) for s in spacing))
    return image


def from_sitk(image):
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)


def random_blobs(seed, shape=(24, 20, 8)):
    noise = np.random.default_rng(seed).random(shape)
    return ndimage.gaussian_filter(noise, sigma=(2, 2, 1)) > 0.52


def challenge_hausdorff(reference, prediction, spacing):
    """getHausdorff of the challenge's evaluation.py, on SimpleITK images."""
    test_image, result_image = to_sitk(reference, spacing), to_sitk(prediction, spacing)
    h_test = sitk.GetArrayFromImage(
        sitk.Subtract(test_image, sitk.BinaryErode(test_image, (1, 1, 0)))
    )
    h_result = sitk.GetArrayFromImage(
        sitk.Subtract(result_image, sitk.BinaryErode(result_image, (1, 1, 0)))
    )
    test_points = [
        test_image.TransformIndexToPhysicalPoint(x.tolist())
        for x in np.transpose(np.flipud(np.nonzero(h_test)))
    ]
    result_points = [
        test_image.TransformIndexToPhysicalPoint(x.tolist())
        for x in np.transpose(np.flipud(np.nonzero(h_result)))
    ]
    d_test = KDTree(test_points, leafsize=100).query(result_points, k=1, eps=0, p=2)[0]
    d_result = KDTree(result_points, leafsize=100).query(test_points, k=1, eps=0, p=2)[0]
    return max(np.percentile(d_test, 95), np.percentile(d_result, 95))


# --- boundaries and HD95 -----------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_boundary_matches_simpleitk_binary_erode_in_plane(seed):
    blob = random_blobs(seed)
    blob[0, 3:9, :] = True  # touches the image edge: ITK counts outside as foreground
    image = to_sitk(blob)
    expected = from_sitk(sitk.Subtract(image, sitk.BinaryErode(image, (1, 1, 0)))).astype(bool)
    np.testing.assert_array_equal(lesion_boundary(blob), expected)


def test_in_plane_erosion_is_the_3x3_square():
    # A plus-shaped 5-voxel cross erodes to nothing under a 3x3 square (it would keep
    # the centre under the 4-neighbour cross): every voxel is boundary.
    mask = np.zeros((5, 5, 1), bool)
    mask[1:4, 2, 0] = mask[2, 1:4, 0] = True
    np.testing.assert_array_equal(lesion_boundary(mask), mask)


def test_two_cubes_on_anisotropic_voxels():
    # Reference: 5x5x5 voxels; prediction: the same cube moved one voxel along axis 2.
    # Spacing 1 x 1 x 3 mm. Boundaries are per-slice rings (in-plane erosion): 16 ring
    # voxels in each of the 5 slices, 80 per mask. Slices 3..6 coincide (distance 0);
    # the reference's slice 2 ring lies 3 mm (one slice) from the prediction's slice 3
    # ring, and the prediction's slice 7 ring 3 mm from the reference's slice 6 ring.
    # Each direction: 64 zeros and 16 threes; the 95th percentile (linear, position
    # 0.95 * 79 = 75.05 in the sorted list, whose entries 64..79 are 3) is 3 mm.
    # Overlap 5 * 5 * 4 = 100 voxels: Dice = 2 * 100 / (125 + 125) = 0.8.
    shape = (10, 10, 10)
    reference = cube(shape, slice(2, 7), slice(2, 7), slice(2, 7))
    prediction = cube(shape, slice(2, 7), slice(2, 7), slice(3, 8))
    assert dice(reference, prediction) == 0.8
    assert hd95(reference, prediction, spacing=(1, 1, 3)) == 3.0
    assert hd95(reference, prediction, spacing=(1, 1, 1)) == 1.0
    # The same geometry through an affine that permutes axes: voxel axis 2 is 3 mm.
    affine = np.array([[0, 0, 3, 10], [1, 0, 0, -4], [0, 1, 0, 2], [0, 0, 0, 1]], float)
    assert hd95(reference, prediction, affine=affine) == 3.0
    assert challenge_hausdorff(reference, prediction, (1, 1, 3)) == 3.0


def test_cubes_shifted_in_plane():
    # Prediction moved 2 voxels along axis 0; spacing 1 x 1 x 3 mm. In each of the 5
    # slices the reference ring (i, j in 2..6) and the prediction ring (i in 4..8) have
    # 16 voxels; other slices are >= 3 mm away, so nearest neighbours are in-plane.
    # Reference ring -> prediction ring, per slice:
    #   (4|5|6, 2|6)                -> 0 mm (on the prediction ring)      6 voxels
    #   (3, 2), (3, 6), (6, 3), (6, 5) -> 1 mm                            4 voxels
    #   (2, 2..6), (6, 4)           -> 2 mm (to column i = 4, or (6, 2))  6 voxels
    # 80 distances: 30 zeros, 20 ones, 30 twos; the 95th percentile is 2 mm, and the
    # other direction is the mirror image. Overlap 3 * 5 * 5: Dice = 150 / 250 = 0.6.
    shape = (12, 10, 10)
    reference = cube(shape, slice(2, 7), slice(2, 7), slice(2, 7))
    prediction = cube(shape, slice(4, 9), slice(2, 7), slice(2, 7))
    assert dice(reference, prediction) == 0.6
    assert hd95(reference, prediction, spacing=(1, 1, 3)) == 2.0


@pytest.mark.parametrize("seed", [3, 4])
def test_hd95_matches_the_challenge_code_on_random_blobs(seed):
    reference = random_blobs(seed)
    prediction = random_blobs(seed + 10)
    spacing = (0.9, 1.1, 3.0)
    assert hd95(reference, prediction, spacing=spacing) == pytest.approx(
        challenge_hausdorff(reference, prediction, spacing), abs=1e-9
    )


def test_hd95_needs_spacing_or_affine():
    mask = cube((3, 3, 3), 1, 1, 1)
    with pytest.raises(ValueError, match="exactly one"):
        hd95(mask, mask)


# --- challenge masking -------------------------------------------------------------


def test_reference_label_2_counts_nowhere():
    reference = np.zeros((8, 8, 4), np.uint8)
    reference[1:3, 1:3, 1] = 1
    reference[5:7, 5:7, 2] = 2  # other pathology
    prediction = (reference > 0).astype(np.uint8)  # also predicts the label-2 voxels
    metrics = evaluate_segmentation(reference, prediction, spacing=(1, 1, 3))
    assert metrics == {"dice": 1.0, "hd95": 0.0, "avd": 0.0, "lesion_recall": 1.0, "lesion_f1": 1.0}
    # ... and missing them costs nothing either
    assert evaluate_segmentation(reference, reference == 1, spacing=(1, 1, 3))["dice"] == 1.0


def test_prediction_thresholds_integer_and_float():
    reference = np.array([1, 1, 1, 0])
    _, as_float = challenge_masks(reference, np.array([0.5, 0.49, 1.0, 0.7]))
    _, as_int = challenge_masks(reference, np.array([1, 0, 3, 0]))
    assert as_float.tolist() == [True, False, True, True]
    assert as_int.tolist() == [True, False, True, False]


def test_reference_with_unknown_labels_is_refused():
    with pytest.raises(InputError, match=r"other than 0.*3"):
        challenge_masks(np.array([0, 1, 3]), np.array([0, 1, 1]), subject="s1")


# --- empty masks -------------------------------------------------------------------


def test_empty_prediction():
    reference = cube((6, 6, 3), slice(1, 4), slice(1, 4), 1)
    metrics = evaluate_segmentation(reference, np.zeros_like(reference), spacing=(1, 1, 3))
    assert metrics["dice"] == 0.0
    assert math.isnan(metrics["hd95"])
    assert metrics["avd"] == 100.0
    assert metrics["lesion_recall"] == 0.0
    assert metrics["lesion_f1"] == 0.0  # precision 1 (no predictions), recall 0


def test_empty_reference():
    prediction = cube((6, 6, 3), slice(1, 4), slice(1, 4), 1)
    metrics = evaluate_segmentation(np.zeros_like(prediction), prediction, spacing=(1, 1, 3))
    assert metrics["dice"] == 0.0
    assert math.isnan(metrics["hd95"]) and math.isnan(metrics["avd"])
    assert metrics["lesion_recall"] == 1.0  # no reference lesions
    assert metrics["lesion_f1"] == 0.0  # precision 0


def test_both_empty():
    empty = np.zeros((4, 4, 2), np.uint8)
    metrics = evaluate_segmentation(empty, empty, spacing=(1, 1, 1))
    assert (
        math.isnan(metrics["dice"]) and math.isnan(metrics["hd95"]) and math.isnan(metrics["avd"])
    )
    assert (metrics["lesion_recall"], metrics["lesion_f1"]) == (1.0, 1.0)


# --- lesion-wise -------------------------------------------------------------------


def test_lesion_f1_with_three_reference_lesions_and_a_false_positive():
    shape = (12, 12, 3)
    reference = np.zeros(shape, np.uint8)
    reference[1:3, 1:3, 1] = 1  # lesion A
    reference[6:8, 1:3, 1] = 1  # lesion B
    reference[1:3, 8:10, 1] = 1  # lesion C
    prediction = np.zeros(shape, np.uint8)
    prediction[2:4, 2:4, 1] = 1  # touches A
    prediction[9:11, 9:11, 1] = 1  # false positive
    # recall 1/3, precision 1/2: F1 = 2 * (1/2 * 1/3) / (1/2 + 1/3) = (1/3) / (5/6) = 0.4
    assert lesion_recall(reference, prediction) == pytest.approx(1 / 3)
    assert lesion_precision(reference, prediction) == 0.5
    assert lesion_f1(reference, prediction) == pytest.approx(0.4)
    metrics = evaluate_segmentation(reference, prediction, spacing=(1, 1, 1))
    assert metrics["lesion_f1"] == pytest.approx(0.4)
    assert metrics["avd"] == abs(8 - 12) / 12 * 100  # |V_P - V_R| / V_R * 100


def test_lesions_are_26_connected():
    reference = np.zeros((3, 3, 3), np.uint8)
    reference[0, 0, 0] = reference[1, 1, 1] = 1  # one lesion (corner contact)
    prediction = np.zeros_like(reference)
    prediction[0, 0, 0] = 1
    assert lesion_recall(reference, prediction) == 1.0


def test_metric_functions_refuse_label_maps():
    with pytest.raises(InputError, match="not binary"):
        dice(np.array([0, 2]), np.array([0, 1]))
    assert avd([1, 1, 0, 0], [1, 1, 1, 0]) == 50.0


# --- images ------------------------------------------------------------------------


def test_image_wrapper_uses_the_reference_geometry_and_checks_grids(tmp_path):
    shape = (10, 10, 10)
    affine = np.diag([1.0, 1.0, 3.0, 1.0])
    reference = nib.Nifti1Image(cube(shape, slice(2, 7), slice(2, 7), slice(2, 7)), affine)
    prediction = nib.Nifti1Image(cube(shape, slice(2, 7), slice(2, 7), slice(3, 8)), affine)
    metrics = evaluate_segmentation_images(reference, prediction, subject="s1")
    assert tuple(metrics) == METRIC_NAMES
    assert (metrics["dice"], metrics["hd95"]) == (0.8, 3.0)
    moved = nib.Nifti1Image(np.asarray(prediction.dataobj), np.diag([1.0, 1.0, 2.0, 1.0]))
    with pytest.raises(InputError, match=r"not on the same grid.*pred\.nii\.gz") as caught:
        evaluate_segmentation_images(
            reference,
            moved,
            subject="s1",
            reference_file="ref.nii.gz",
            prediction_file="pred.nii.gz",
        )
    assert "resample the prediction onto the reference grid" in str(caught.value)
    nib.save(reference, tmp_path / "ref.nii.gz")
    nib.save(prediction, tmp_path / "pred.nii.gz")
    assert (
        evaluate_segmentation_from_files(tmp_path / "ref.nii.gz", tmp_path / "pred.nii.gz")
        == metrics
    )


# --- regions -----------------------------------------------------------------------


def test_region_dice():
    predicted = np.array([1, 1, 2, 2, 0, 3]).reshape(1, 1, 6)
    reference = np.array([1, 2, 2, 2, 0, 0]).reshape(1, 1, 6)
    scores = region_dice(predicted, reference, TABLE)
    assert scores.columns.tolist() == ["region_id", "region_name", "hemisphere", "dice"]
    assert scores.region_id.tolist() == [1, 2, 3, 4]
    # region 1: |P| 2, |R| 1, overlap 1; region 2: 2, 3, 2; region 3: 1, 0, 0; region 4 absent
    assert scores.dice.tolist()[:3] == [2 / 3, 4 / 5, 0.0]
    assert math.isnan(scores.dice.iloc[3])


def test_region_dice_matches_a_per_region_loop():
    rng = np.random.default_rng(2)
    predicted = rng.integers(0, 5, size=(12, 10, 8))
    reference = np.where(
        rng.random(predicted.shape) < 0.7, predicted, rng.integers(0, 5, predicted.shape)
    )
    scores = region_dice(predicted, reference, TABLE).set_index("region_id").dice
    for region in TABLE.ids:
        assert scores[region] == pytest.approx(dice(reference == region, predicted == region))


def test_region_dice_refuses_unknown_labels():
    with pytest.raises(InputError, match=r"predicted region map.*9"):
        region_dice(np.array([[[0, 9]]]), np.array([[[0, 1]]]), TABLE, subject="s1")
