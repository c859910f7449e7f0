"""Segmentation accuracy, with the definitions of the MICCAI 2017 WMH segmentation challenge.

The reference is a label map: 1 = WMH, 2 = other pathology, 0 = background. Label 2
counts nowhere: it is not reference lesion, and prediction voxels on it are set to
background (:func:`challenge_masks`). A prediction voxel is lesion at >= 1 for integer
(and boolean) images, >= 0.5 for float images.

The metric functions (:func:`dice`, :func:`hd95`, :func:`avd`, :func:`lesion_recall`,
:func:`lesion_f1`) take the two binary masks that :func:`challenge_masks` returns;
:func:`evaluate_segmentation` does both steps. Cases the challenge leaves undefined:

==============================  =====  =====  =====  ======  ==
case                            dice   hd95   avd    recall  f1
==============================  =====  =====  =====  ======  ==
empty prediction                0      NaN    100    0       0
empty reference                 0      NaN    NaN    1       0
both empty                      NaN    NaN    NaN    1       1
==============================  =====  =====  =====  ======  ==

HD95 follows the challenge's ``evaluation.py``: a mask's boundary is the mask minus
its erosion by ``sitk.BinaryErode(image, (1, 1, 0))``, a 3 x 3 square in the plane of
the first two array axes (one slice along the third axis at a time), with voxels
beyond the image edge counted as foreground (ITK's ``BoundaryToForeground``). HD95 is
the larger of the two directed 95th percentiles (``np.percentile``, linear) of
nearest-neighbour distances between boundary voxel centres in millimetres. It is NaN
when either mask is empty (distance to nothing is undefined; the challenge only
defines the empty-prediction case), and when a mask has no boundary (it fills the
image).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree

from wmhmap.errors import InputError
from wmhmap.loads import as_label_map, check_same_grid
from wmhmap.regions import RegionTable

REFERENCE_WMH = 1
"""Reference label of white matter hyperintensities."""

REFERENCE_OTHER = 2
"""Reference label of other pathology, ignored everywhere."""

METRIC_NAMES: tuple[str, ...] = ("dice", "hd95", "avd", "lesion_recall", "lesion_f1")
"""Keys of :func:`evaluate_segmentation`'s result: Dice, HD95 (mm), AVD (%), recall, F1."""

FLOAT_LESION_THRESHOLD = 0.5
"""A float prediction voxel is lesion at or above this value."""

# sitk.BinaryErode(image, (1, 1, 0)) uses a ball of radius 1 in x and y: in 2-D that
# is the full 3 x 3 square (checked against SimpleITK in tests/test_metrics.py).
_IN_PLANE_SQUARE = np.ones((3, 3, 1), dtype=bool)
_NEIGHBOURS_26 = np.ones((3, 3, 3), dtype=bool)


def challenge_masks(
    reference: npt.ArrayLike,
    prediction: npt.ArrayLike,
    *,
    subject: str | None = None,
    reference_file: str | Path | None = None,
    prediction_file: str | Path | None = None,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Binary reference and prediction masks, as the challenge scores them.

    Parameters
    ----------
    reference
        Label map: 0 background, 1 WMH, 2 other pathology.
    prediction
        Lesion mask, label map or probability map: lesion at >= 1 (integers, booleans)
        or >= 0.5 (floats).

    Returns
    -------
    (reference_mask, prediction_mask)
        ``reference == 1``, and the thresholded prediction without the voxels where
        the reference is 2.

    Examples
    --------
    >>> ref, pred = challenge_masks(np.array([0, 1, 2, 1]), np.array([0.6, 0.4, 0.9, 0.5]))
    >>> ref.tolist(), pred.tolist()
    ([False, True, False, True], [True, False, False, True])
    """
    labels = as_label_map(reference, what="reference", subject=subject, file=reference_file)
    unexpected = np.setdiff1d(np.unique(labels), [0, REFERENCE_WMH, REFERENCE_OTHER])
    if unexpected.size:
        raise InputError(
            "reference holds labels other than 0 (background), 1 (WMH) and 2 (other "
            f"pathology): {', '.join(str(v) for v in unexpected[:5])}",
            subject=subject,
            file=reference_file,
            fix="pass a reference mask with the challenge labels",
        )
    predicted = np.asanyarray(prediction)
    if predicted.shape != labels.shape:
        raise InputError(
            f"reference has shape {_shape_text(labels.shape)} and prediction "
            f"{_shape_text(predicted.shape)}, expected the same shape",
            subject=subject,
            file=prediction_file,
            fix="resample the prediction onto the reference grid",
        )
    if predicted.dtype == np.bool_:
        lesion = np.asarray(predicted)
    elif np.issubdtype(predicted.dtype, np.integer):
        lesion = np.asarray(predicted >= 1)
    elif np.issubdtype(predicted.dtype, np.floating):
        lesion = np.asarray(predicted >= FLOAT_LESION_THRESHOLD)
    else:
        raise InputError(
            f"prediction has data type {predicted.dtype}, expected numbers or booleans",
            subject=subject,
            file=prediction_file,
            fix="pass a lesion mask or probability map",
        )
    return labels == REFERENCE_WMH, lesion & (labels != REFERENCE_OTHER)


def dice(reference: npt.ArrayLike, prediction: npt.ArrayLike) -> float:
    """Dice = 2 |P ∩ R| / (|P| + |R|) on voxels; NaN when both masks are empty.

    Examples
    --------
    >>> dice([1, 1, 0, 0], [1, 0, 1, 0])
    0.5
    """
    ref, pred = _binary_pair(reference, prediction)
    total = int(ref.sum()) + int(pred.sum())
    return 2.0 * int(np.count_nonzero(ref & pred)) / total if total else math.nan


def avd(reference: npt.ArrayLike, prediction: npt.ArrayLike) -> float:
    """Absolute volume difference (%): ``|V_P - V_R| / V_R * 100``; NaN for an empty reference.

    Examples
    --------
    >>> avd([1, 1, 1, 1, 0], [1, 1, 1, 1, 1])
    25.0
    """
    ref, pred = _binary_pair(reference, prediction)
    v_ref = int(ref.sum())
    if v_ref == 0:
        return math.nan
    return abs(int(pred.sum()) - v_ref) / v_ref * 100.0


def lesion_boundary(mask: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Boundary voxels of a 3-D mask: the mask minus its in-plane (per slice) erosion.

    The erosion is the challenge's ``sitk.BinaryErode(image, (1, 1, 0))``: a 3 x 3
    square in array axes 0 and 1, nothing along axis 2, and voxels beyond the image
    edge counted as foreground.

    Examples
    --------
    >>> m = np.zeros((5, 5, 1), bool)
    >>> m[1:4, 1:4] = True
    >>> lesion_boundary(m)[:, :, 0].astype(int).tolist()[1:4]
    [[0, 1, 1, 1, 0], [0, 1, 0, 1, 0], [0, 1, 1, 1, 0]]
    """
    arr = _binary(mask, "mask")
    if arr.ndim != 3:
        raise InputError(
            f"mask is {arr.ndim}-D, expected 3-D", fix="pass a 3-D mask (add a slice axis)"
        )
    eroded = ndimage.binary_erosion(arr, structure=_IN_PLANE_SQUARE, border_value=1)
    return arr & ~eroded


def hd95(
    reference: npt.ArrayLike,
    prediction: npt.ArrayLike,
    *,
    spacing: Sequence[float] | npt.ArrayLike | None = None,
    affine: npt.ArrayLike | None = None,
) -> float:
    """95th-percentile Hausdorff distance (mm) between the masks' boundaries.

    Give the voxel ``spacing`` (mm per array axis) or the voxel-to-world ``affine``
    (4 x 4). NaN when either mask is empty or has no boundary.

    Examples
    --------
    >>> ref = np.zeros((6, 6, 3), bool); ref[1:4, 1:4, 1] = True
    >>> pred = np.zeros((6, 6, 3), bool); pred[2:5, 1:4, 1] = True
    >>> hd95(ref, pred, spacing=(2, 1, 1))
    2.0
    """
    ref, pred = _binary_pair(reference, prediction)
    to_mm = _voxel_to_mm(spacing, affine)
    if not ref.any() or not pred.any():
        return math.nan
    ref_points = _world(np.argwhere(lesion_boundary(ref)), to_mm)
    pred_points = _world(np.argwhere(lesion_boundary(pred)), to_mm)
    if len(ref_points) == 0 or len(pred_points) == 0:
        return math.nan
    ref_to_pred = cKDTree(pred_points).query(ref_points, k=1)[0]
    pred_to_ref = cKDTree(ref_points).query(pred_points, k=1)[0]
    return float(max(np.percentile(ref_to_pred, 95), np.percentile(pred_to_ref, 95)))


def lesion_recall(reference: npt.ArrayLike, prediction: npt.ArrayLike) -> float:
    """Reference lesions (26-connected) touched by the prediction / all; 1 when there are none.

    Examples
    --------
    >>> ref = np.zeros((5, 1, 1), bool); ref[[0, 2, 4]] = True
    >>> pred = np.zeros((5, 1, 1), bool); pred[0] = True
    >>> round(lesion_recall(ref, pred), 3)
    0.333
    """
    ref, pred = _binary_pair(reference, prediction)
    return _fraction_touched(ref, pred)


def lesion_precision(reference: npt.ArrayLike, prediction: npt.ArrayLike) -> float:
    """Predicted lesions (26-connected) touching the reference / all; 1 when there are none.

    Examples
    --------
    >>> ref = np.zeros((5, 1, 1), bool); ref[0] = True
    >>> pred = np.zeros((5, 1, 1), bool); pred[[0, 4]] = True
    >>> lesion_precision(ref, pred)
    0.5
    """
    ref, pred = _binary_pair(reference, prediction)
    return _fraction_touched(pred, ref)


def lesion_f1(reference: npt.ArrayLike, prediction: npt.ArrayLike) -> float:
    """Lesion-wise F1 = 2PR / (P + R) of :func:`lesion_precision` and :func:`lesion_recall`.

    0 when P + R = 0.

    Examples
    --------
    >>> ref = np.zeros((5, 1, 1), bool); ref[[0, 2]] = True
    >>> pred = np.zeros((5, 1, 1), bool); pred[[0, 4]] = True
    >>> lesion_f1(ref, pred)
    0.5
    """
    ref, pred = _binary_pair(reference, prediction)
    return _f1(_fraction_touched(pred, ref), _fraction_touched(ref, pred))


def evaluate_segmentation(
    reference: npt.ArrayLike,
    prediction: npt.ArrayLike,
    *,
    spacing: Sequence[float] | npt.ArrayLike | None = None,
    affine: npt.ArrayLike | None = None,
    subject: str | None = None,
) -> dict[str, float]:
    """All challenge metrics for one case: ``dice, hd95, avd, lesion_recall, lesion_f1``.

    Parameters
    ----------
    reference
        Reference label map (1 WMH, 2 other pathology).
    prediction
        Predicted mask or probability map on the same grid.
    spacing, affine
        Voxel spacing (mm per array axis) or voxel-to-world affine; exactly one.
    subject
        Named in errors.

    Examples
    --------
    >>> ref = np.zeros((4, 4, 2), np.uint8); ref[:2, :2, 0] = 1; ref[3, 3, 1] = 2
    >>> pred = np.zeros((4, 4, 2), np.uint8); pred[:2, :2, 0] = 1; pred[3, 3, 1] = 1
    >>> evaluate_segmentation(ref, pred, spacing=(1, 1, 3))
    {'dice': 1.0, 'hd95': 0.0, 'avd': 0.0, 'lesion_recall': 1.0, 'lesion_f1': 1.0}
    """
    ref, pred = challenge_masks(reference, prediction, subject=subject)
    if ref.ndim != 3:
        raise InputError(
            f"reference is {ref.ndim}-D, expected 3-D", subject=subject, fix="pass one volume"
        )
    recall = _fraction_touched(ref, pred)
    precision = _fraction_touched(pred, ref)
    return {
        "dice": dice(ref, pred),
        "hd95": hd95(ref, pred, spacing=spacing, affine=affine),
        "avd": avd(ref, pred),
        "lesion_recall": recall,
        "lesion_f1": _f1(precision, recall),
    }


def evaluate_segmentation_images(
    reference: nib.Nifti1Image,
    prediction: nib.Nifti1Image,
    *,
    subject: str | None = None,
    reference_file: str | Path | None = None,
    prediction_file: str | Path | None = None,
) -> dict[str, float]:
    """:func:`evaluate_segmentation` for two images on the same grid (reference geometry).

    ``reference_file`` and ``prediction_file`` only name the images in error messages.
    """
    check_same_grid(
        prediction,
        reference,
        what="prediction",
        reference_what="reference",
        image_file=prediction_file,
        reference_file=reference_file,
        subject=subject,
        fix="resample the prediction onto the reference grid (nearest neighbour)",
    )
    ref, pred = challenge_masks(
        np.asanyarray(reference.dataobj),
        np.asanyarray(prediction.dataobj),
        subject=subject,
        reference_file=reference_file,
        prediction_file=prediction_file,
    )
    return evaluate_segmentation(ref, pred, affine=reference.affine, subject=subject)


def evaluate_segmentation_from_files(
    reference_path: str | Path, prediction_path: str | Path, *, subject: str | None = None
) -> dict[str, float]:
    """:func:`evaluate_segmentation_images` on two NIfTI files."""
    images = []
    for path in (reference_path, prediction_path):
        if not Path(path).is_file():
            raise InputError("image not found", subject=subject, file=path, fix="check the path")
        image = nib.load(path)
        if not isinstance(image, nib.Nifti1Image):
            raise InputError(
                f"file is a {type(image).__name__}, expected a NIfTI image",
                subject=subject,
                file=path,
                fix="pass a NIfTI image",
            )
        images.append(image)
    return evaluate_segmentation_images(
        images[0],
        images[1],
        subject=subject,
        reference_file=reference_path,
        prediction_file=prediction_path,
    )


def region_dice(
    predicted_regions: npt.ArrayLike,
    reference_regions: npt.ArrayLike,
    table: RegionTable,
    *,
    subject: str | None = None,
) -> pd.DataFrame:
    """Dice of every region between two region label maps, in one pass.

    Returns one row per region in table order with columns ``region_id, region_name,
    hemisphere, dice``; dice is NaN for a region absent from both maps.

    Examples
    --------
    >>> from wmhmap.regions import Region
    >>> t = RegionTable((Region(1, "left", "a", ()), Region(2, "right", "b", ()),
    ...                  Region(3, "left", "c", ())))
    >>> region_dice([0, 1, 1, 2], [1, 1, 2, 2], t)["dice"].tolist()
    [0.5, 0.6666666666666666, nan]
    """
    predicted = as_label_map(predicted_regions, what="predicted region map", subject=subject)
    reference = as_label_map(reference_regions, what="reference region map", subject=subject)
    if predicted.shape != reference.shape:
        raise InputError(
            f"predicted region map has shape {_shape_text(predicted.shape)} and reference "
            f"{_shape_text(reference.shape)}, expected the same shape",
            subject=subject,
            fix="resample the predicted region map onto the reference grid",
        )
    width = table.max_id + 1
    if predicted.size:
        width = max(width, int(predicted.max()) + 1, int(reference.max()) + 1)
    # Confusion matrix of (predicted, reference) label pairs from one bincount.
    pairs = predicted.ravel().astype(np.intp) * width + reference.ravel()
    confusion = np.bincount(pairs, minlength=width * width).reshape(width, width)
    predicted_voxels = confusion.sum(axis=1)
    reference_voxels = confusion.sum(axis=0)
    for voxels, what in ((predicted_voxels, "predicted"), (reference_voxels, "reference")):
        try:
            table.check_labels(np.flatnonzero(voxels))
        except InputError as error:
            raise InputError(
                f"{what} region map: {error.problem}", subject=subject, fix=error.fix
            ) from None
    ids = table.ids
    overlap = confusion[ids, ids]
    total = predicted_voxels[ids] + reference_voxels[ids]
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(total > 0, 2.0 * overlap / total, np.nan)
    return pd.DataFrame(
        {
            "region_id": ids.astype(np.int64),
            "region_name": [r.name for r in table],
            "hemisphere": [r.hemisphere for r in table],
            "dice": scores.astype(np.float64),
        }
    )


def label_agreement(
    predicted: npt.ArrayLike, reference: npt.ArrayLike, within: npt.ArrayLike
) -> float:
    """Share of the voxels in ``within`` to which both label maps give the same label.

    >>> label_agreement(np.array([1, 2, 3, 0]), np.array([1, 2, 4, 4]), [1, 1, 1, 0])
    0.6666666666666666
    """
    inside = np.asarray(within, dtype=bool)
    if not inside.any():
        return float("nan")
    return float((np.asarray(predicted)[inside] == np.asarray(reference)[inside]).mean())


def _fraction_touched(lesions: npt.NDArray[np.bool_], other: npt.NDArray[np.bool_]) -> float:
    """Share of the 26-connected components of ``lesions`` that overlap ``other`` (1 if none)."""
    labels, n_lesions = ndimage.label(lesions, structure=_neighbourhood(lesions.ndim))
    if n_lesions == 0:
        return 1.0
    touched = np.unique(labels[other & lesions])
    return float(len(touched)) / n_lesions


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2.0 * precision * recall / total if total > 0 else 0.0


def _neighbourhood(ndim: int) -> npt.NDArray[np.bool_]:
    return _NEIGHBOURS_26 if ndim == 3 else np.ones((3,) * ndim, dtype=bool)


def _binary(values: npt.ArrayLike, what: str) -> npt.NDArray[np.bool_]:
    arr = np.asanyarray(values)
    if arr.dtype == np.bool_:
        return np.asarray(arr)
    if not np.all((arr == 0) | (arr == 1)):
        raise InputError(
            f"{what} is not binary (expected only 0 and 1)",
            fix="make binary masks with wmhmap.metrics.challenge_masks first",
        )
    return np.asarray(arr == 1)


def _binary_pair(
    reference: npt.ArrayLike, prediction: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    ref = _binary(reference, "reference")
    pred = _binary(prediction, "prediction")
    if ref.shape != pred.shape:
        raise InputError(
            f"reference has shape {_shape_text(ref.shape)} and prediction "
            f"{_shape_text(pred.shape)}, expected the same shape",
            fix="resample the prediction onto the reference grid",
        )
    return ref, pred


def _voxel_to_mm(
    spacing: Sequence[float] | npt.ArrayLike | None, affine: npt.ArrayLike | None
) -> npt.NDArray[np.float64]:
    """A 4 x 4 voxel-to-mm matrix from either the spacing or the affine."""
    if (spacing is None) == (affine is None):
        raise ValueError("give exactly one of spacing (mm per voxel axis) and affine (4 x 4)")
    if affine is not None:
        matrix = np.asarray(affine, dtype=np.float64)
        if matrix.shape != (4, 4):
            raise ValueError(f"affine must be 4 x 4, got shape {matrix.shape}")
        return matrix
    steps = np.asarray(spacing, dtype=np.float64)
    if steps.shape != (3,) or not np.all(steps > 0):
        raise ValueError(f"spacing must be 3 positive numbers (mm), got {spacing!r}")
    return np.diag(np.append(steps, 1.0))


def _world(voxels: npt.NDArray[Any], to_mm: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    points: npt.NDArray[np.float64] = voxels @ to_mm[:3, :3].T + to_mm[:3, 3]
    return points


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)
