"""Brain extraction (deepbet) and the brain-mask start of the atlas registration."""

import nibabel as nib
import numpy as np
import pytest
from conftest import make_image
from scipy.spatial.transform import Rotation

from wmhmap.atlas import fit_brain_masks
from wmhmap.brainmask import extract_brain, mask_dice
from wmhmap.errors import InputError
from wmhmap.geometry import reorient_to_ras
from wmhmap.preprocess import apply_linear


def truth_brain(subject, modality):
    """The simulated subject's brain on a scan's grid: non-zero tissue of the phantom."""
    img = reorient_to_ras(getattr(subject, modality))
    return img, np.asarray(img.dataobj) > 0.1 * np.percentile(np.asarray(img.dataobj), 99)


@pytest.mark.parametrize("modality", ["t1", "flair"])
def test_deepbet_finds_the_simulated_brain_on_t1w_and_flair(simulated_subject, modality):
    img, truth = truth_brain(simulated_subject, modality)
    brain = extract_brain(img, subject="05", file=f"{modality}.nii.gz")
    mask = np.asarray(brain.mask.dataobj) > 0
    assert brain.mask.shape == img.shape and np.allclose(brain.mask.affine, img.affine)
    assert mask_dice(mask, truth) > 0.93
    voxel_ml = np.prod(img.header.get_zooms()[:3]) / 1000
    assert brain.volume_ml == pytest.approx(mask.sum() * voxel_ml)


def scan_without_brain(kind):
    rng = np.random.default_rng(0)
    shape = (120, 140, 40)
    x, y, z = np.meshgrid(*(np.arange(n) - n / 2 for n in shape), indexing="ij")
    data = {
        "constant": np.full(shape, 7.0),
        "noise": rng.normal(100, 10, shape).clip(0),
        "uniform ball": 100.0 * (x**2 + y**2 + (3 * z) ** 2 < 50**2) + rng.normal(0, 3, shape),
        "speck": np.pad(np.ones((6, 6, 3)), ((57, 57), (67, 67), (18, 19))),
    }[kind]
    return make_image(data, zooms=(1.5, 1.5, 4.5))


@pytest.mark.parametrize("kind", ["constant", "noise", "uniform ball", "speck"])
def test_a_scan_without_a_brain_is_refused_naming_subject_and_file(kind):
    with pytest.raises(InputError, match=r"no brain|no image") as error:
        extract_brain(scan_without_brain(kind), subject="013", file="sub-013_T1w.nii.gz")
    message = str(error.value)
    assert "subject 013" in message and "sub-013_T1w.nii.gz" in message and "Fix:" in message


def tilted(img, degrees):
    """The same scan with its head turned in world space (only the header changes)."""
    turn = np.eye(4)
    turn[:3, :3] = Rotation.from_euler("x", degrees, degrees=True).as_matrix()
    centre = nib.affines.apply_affine(img.affine, (np.array(img.shape) - 1) / 2)
    shift = np.eye(4)
    shift[:3, 3] = centre
    back = np.eye(4)
    back[:3, 3] = -centre
    return nib.Nifti1Image(np.asarray(img.dataobj), shift @ turn @ back @ img.affine)


def test_a_head_tilted_far_from_the_atlas_is_found_by_the_rotation_search(
    demo_atlas, simulated_subject
):
    img, truth = truth_brain(simulated_subject, "t1")
    head = tilted(img, 70)
    brain = nib.Nifti1Image(truth.astype(np.uint8), head.affine)

    def overlap(fit):
        warped = apply_linear(demo_atlas.brain_mask, head, [fit], interpolation="mask")
        return mask_dice(truth, np.asarray(warped.dataobj) > 0)

    centred, info = fit_brain_masks(truth, brain, demo_atlas, search_below_dice=0.0)
    assert not info["rotation_search"]
    searched, info = fit_brain_masks(truth, brain, demo_atlas)
    assert info["rotation_search"] and info["first_fit_dice"] < 0.9
    # the start from the centres of mass alone ends in a wrong fit; the search does not
    assert overlap(centred) < 0.9 < overlap(searched), (overlap(centred), overlap(searched))
    assert overlap(searched) > 0.95
