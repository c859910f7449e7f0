"""Classic WMH segmenters (bronze masks) and STAPLE (silver masks) against known truth."""

import nibabel as nib
import numpy as np
import pytest
from conftest import make_image

from wmhmap.classic import (
    ClassicMethod,
    classic_mask,
    methods_from_config,
    remove_small_lesions,
    segment_file,
    staple,
    staple_files,
    white_matter_with_margin,
)
from wmhmap.errors import InputError
from wmhmap.metrics import dice

FLAIRZ = ClassicMethod("flairz", "FLAIR", "zscore", 3.5, 1.0)
T1Z = ClassicMethod("t1z", "T1w", "zscore", -3.0, 0.0)


def block_phantom(seed=0):
    """A noisy white-matter slab in grey matter, with three lesions of known extent:
    bright on "FLAIR", dark on "T1w", and one isolated noise voxel per image."""
    rng = np.random.default_rng(seed)
    shape = (40, 40, 20)
    wm = np.zeros(shape, bool)
    wm[8:32, 8:32, 4:16] = True
    lesions = np.zeros(shape, bool)
    lesions[12:16, 12:16, 6:9] = True
    lesions[20:25, 22:26, 8:12] = True
    lesions[26:28, 12:15, 10:13] = True
    flair = np.where(wm, 100.0, 110.0) + rng.normal(0, 4, shape)
    flair[lesions] += 60
    t1 = np.where(wm, 100.0, 60.0) + rng.normal(0, 4, shape)
    t1[lesions] -= 30
    return flair, t1, wm, lesions


def test_flair_outliers_find_the_planted_lesions():
    flair, _, wm, lesions = block_phantom()
    found = classic_mask(flair, wm, FLAIRZ, spacing=(1, 1, 1))
    # The margin grows the search into grey matter, which is brighter than white matter
    # on FLAIR but far less than the lesions.
    assert dice(lesions, found) > 0.95


def test_hysteresis_keeps_faint_lesion_rims_and_drops_isolated_noise():
    """A lesion with a bright core and a faint rim, and faint isolated specks: one high
    threshold finds the core only, one low threshold the specks too; seeding at the high
    and growing at the low one gives the whole lesion and no speck."""
    rng = np.random.default_rng(4)
    shape = (40, 40, 20)
    wm = np.zeros(shape, bool)
    wm[4:36, 4:36, 2:18] = True
    flair = 100.0 + rng.normal(0, 2, shape)
    lesion = np.zeros(shape, bool)
    lesion[10:20, 10:20, 6:12] = True
    core = np.zeros(shape, bool)
    core[13:17, 13:17, 8:10] = True
    flair[lesion] += 10  # rim: z about 3.4
    flair[core] += 20  # core: z about 10
    specks = np.zeros(shape, bool)
    specks[26:29, 26:29, 12:15] = True
    flair[specks] += 6  # fainter than the rim, touching no core
    high = classic_mask(flair, wm, ClassicMethod("hi", "FLAIR", "zscore", 6.0), spacing=(1, 1, 1))
    low = classic_mask(flair, wm, ClassicMethod("lo", "FLAIR", "zscore", 2.5), spacing=(1, 1, 1))
    both = ClassicMethod("hyst", "FLAIR", "zscore", 6.0, grow_threshold=2.5)
    grown = classic_mask(flair, wm, both, spacing=(1, 1, 1))
    assert dice(lesion, high) < 0.25  # the core alone
    assert low[specks].sum() > 10 and dice(lesion, low) < 0.96
    assert dice(lesion, grown) > 0.98 and not grown[specks].any()


def blurred_lesion_phantom(noise_sd: float, contrast: float, seed: int = 0):
    """A white-matter slab with one lesion (the truth) blurred by the point spread of
    the scan: its partial-volume fringe fades over several voxels beyond it."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = (48, 48, 24)
    wm = np.zeros(shape, bool)
    wm[4:44, 4:44, 2:22] = True
    blob = np.zeros(shape)
    blob[18:30, 18:30, 9:15] = 1.0
    blurred = ndimage.gaussian_filter(blob, 2.0)
    flair = 100.0 + contrast * blurred + rng.normal(0, noise_sd, shape)
    return flair, wm, blob > 0


def test_edge_fraction_puts_a_lesion_edge_at_a_share_of_its_own_contrast():
    """With little noise, a bright lesion's partial-volume fringe lies many noise SDs
    above the white matter: hysteresis at a fixed z grows through all of it, the edge
    fraction stops where the contrast has fallen to 40 % of the lesion's peak. A faint
    lesion (peak z about 4-5: 40 % of it lies below the grow threshold of 2.5) is left
    as it was."""
    hyst = ClassicMethod("hyst", "FLAIR", "zscore", 4.0, grow_threshold=2.5)
    edge = ClassicMethod("edge", "FLAIR", "zscore", 4.0, grow_threshold=2.5, edge_fraction=0.4)
    flair, wm, truth = blurred_lesion_phantom(noise_sd=1.0, contrast=60.0)
    grown = classic_mask(flair, wm, hyst, spacing=(1, 1, 1))
    cut = classic_mask(flair, wm, edge, spacing=(1, 1, 1))
    assert grown.sum() > 3 * truth.sum() and dice(truth, grown) < 0.5  # 3.4 x, 0.46
    assert 0.9 * truth.sum() < cut.sum() < 1.1 * truth.sum() and dice(truth, cut) > 0.88
    faint, wm, _ = blurred_lesion_phantom(noise_sd=15.0, contrast=60.0, seed=1)
    assert classic_mask(faint, wm, hyst, spacing=(1, 1, 1)).sum() > 100
    np.testing.assert_array_equal(
        classic_mask(faint, wm, hyst, spacing=(1, 1, 1)),
        classic_mask(faint, wm, edge, spacing=(1, 1, 1)),
    )


def test_smoothing_is_in_millimetres_along_thick_slices():
    """smooth_mm is a Gaussian sigma in mm: on 1 x 1 x 4 mm voxels it smooths a quarter
    as many voxels along the slices, so a one-slice lesion keeps its contrast."""
    rng = np.random.default_rng(5)
    flair = 100.0 + rng.normal(0, 6, (40, 40, 12))
    wm = np.ones(flair.shape, bool)
    lesion = np.zeros(flair.shape, bool)
    lesion[15:25, 15:25, 6] = True
    flair[lesion] += 15  # 2.5 noise SDs: voxel by voxel mostly below z 3.5
    smooth = ClassicMethod("s", "FLAIR", "zscore", 3.5, smooth_mm=1.0)
    plain = ClassicMethod("p", "FLAIR", "zscore", 3.5)
    thick = classic_mask(flair, wm, smooth, spacing=(1, 1, 4))
    assert dice(lesion, classic_mask(flair, wm, plain, spacing=(1, 1, 4))) < 0.4
    assert dice(lesion, thick) > 0.85
    # the same sigma read as 1 mm slices blurs the one-slice lesion into its neighbours
    assert dice(lesion, classic_mask(flair, wm, smooth, spacing=(1, 1, 1))) < 0.7


def test_t1_hypointensities_find_the_planted_lesions():
    _, t1, wm, lesions = block_phantom()
    found = classic_mask(t1, wm, T1Z, spacing=(1, 1, 1), min_lesion_mm3=5)
    assert dice(lesions, found) > 0.95


def test_grey_matter_at_the_border_is_caught_by_t1_unless_the_white_matter_shrinks():
    """Grey matter is as dark as lesions on T1w: a grown search finds it, a shrunk one not."""
    _, t1, wm, lesions = block_phantom()
    grown = ClassicMethod("t1z", "T1w", "zscore", -3.0, 2.0)
    assert dice(lesions, classic_mask(t1, wm, grown, spacing=(1, 1, 1))) < 0.3
    shrunk = ClassicMethod("t1z", "T1w", "zscore", -3.0, -1.0)
    found = classic_mask(t1, wm, shrunk, spacing=(1, 1, 1))
    assert dice(lesions, found) > 0.9
    assert not (found & ~white_matter_with_margin(wm, -1.0, (1, 1, 1))).any()


def test_percentile_threshold_marks_the_brightest_share_of_white_matter():
    flair, _, wm, lesions = block_phantom()
    share = lesions.sum() / wm.sum()
    method = ClassicMethod("flairpct", "FLAIR", "percentile", 100 * (1 - share), 0.0)
    assert method.hyperintense
    assert dice(lesions, classic_mask(flair, wm, method, spacing=(1, 1, 1))) > 0.95
    dark = ClassicMethod("t1pct", "T1w", "percentile", 2.0, 0.0)
    assert not dark.hyperintense


def test_minimum_lesion_size_is_in_cubic_millimetres():
    """At 1 x 1 x 4 mm a 3-voxel lesion is 12 mm^3: kept at 10 mm^3, dropped at 15."""
    _, _, wm, _ = block_phantom()
    flair = 100.0 + np.indices(wm.shape).sum(axis=0) % 2  # no outlier but the lesion
    flair[20, 20, 8:11] = 200.0
    kept = classic_mask(flair, wm, FLAIRZ, spacing=(1, 1, 4), min_lesion_mm3=10)
    dropped = classic_mask(flair, wm, FLAIRZ, spacing=(1, 1, 4), min_lesion_mm3=15)
    assert kept[20, 20, 8:11].all()
    assert not dropped[20, 20, 8:11].any()


def test_margin_grows_the_same_distance_along_thick_slices():
    wm = np.zeros((21, 21, 21), bool)
    wm[10, 10, 10] = True
    grown = white_matter_with_margin(wm, 4.0, (1.0, 1.0, 4.0))
    assert grown[10, 10, 9:12].all() and not grown[10, 10, 8]  # 4 mm = one thick slice
    assert grown[6:15, 10, 10].all() and not grown[5, 10, 10]  # 4 mm = four thin voxels


def test_remove_small_lesions_counts_diagonal_neighbours_as_one_lesion():
    mask = np.zeros((5, 5, 5), bool)
    mask[1, 1, 1] = mask[2, 2, 2] = True  # touching at a corner: one 2-voxel lesion
    mask[4, 0, 4] = True
    assert remove_small_lesions(mask, 2).sum() == 2


def test_flair_outliers_on_a_simulated_head_match_its_true_lesions(simulated_subject):
    """The realistic phantom (bias field, noise, partial volume, thick FLAIR slices): the
    FLAIR method inside the true white-matter regions recovers most of the lesion load."""
    flair = simulated_subject.flair
    truth = np.asarray(simulated_subject.lesion_mask.dataobj) > 0
    wm = (np.asarray(simulated_subject.regions.dataobj) > 0) | truth
    spacing = flair.header.get_zooms()[:3]
    found = classic_mask(
        np.asarray(flair.dataobj, np.float32), wm, FLAIRZ, spacing=spacing, min_lesion_mm3=20
    )
    assert dice(truth, found) > 0.6, dice(truth, found)
    ratio = found.sum() / truth.sum()
    assert 0.6 < ratio < 1.6, ratio


def test_staple_of_three_noisy_copies_recovers_the_truth():
    """Each mask is the truth with its own 3 % of voxels flipped: every voxel has a
    correct majority, so the consensus is the truth exactly."""
    rng = np.random.default_rng(0)
    truth = np.zeros((20, 30, 30), bool)
    truth[5:15, 10:20, 8:22] = True
    order = rng.permutation(truth.size)
    masks = []
    for k in range(3):
        m = truth.ravel().copy()
        flip = order[k * 500 : (k + 1) * 500]
        m[flip] = ~m[flip]
        masks.append(m.reshape(truth.shape))
    consensus = staple(masks)
    assert (consensus.mask == truth).all()
    assert all(0.95 < s < 1 for s in consensus.sensitivity)
    assert consensus.probability.min() >= 0 and consensus.probability.max() <= 1


def test_staple_trusts_the_better_raters():
    """Two good raters and one that marks an extra slab: the slab is not in the
    consensus, and STAPLE rates that mask's specificity lowest."""
    truth = np.zeros((20, 20, 20), bool)
    truth[5:10, 5:10, 5:10] = True
    sloppy = truth.copy()
    sloppy[12:18, 2:18, 2:18] = True
    consensus = staple([truth, truth, sloppy])
    assert (consensus.mask == truth).all()
    assert np.argmin(consensus.specificity) == 2


def test_staple_of_disjoint_masks_stops_and_says_it_had_not_converged():
    """Two masks that share no voxel: EM creeps on for hundreds of iterations (SimpleITK
    sets no limit; a demo subject's silver job once ran for half an hour). It stops at
    the limit and says so; overlapping masks converge well before it."""
    from wmhmap.classic import STAPLE_MAX_ITERATIONS

    a = np.zeros((20, 40, 40), bool)
    b = a.copy()
    a[5:10, 5:20, 5:20] = True
    b[12:16, 22:35, 22:35] = True
    stopped = staple([a, b], max_iterations=50)
    assert (stopped.iterations, stopped.converged) == (50, False)
    c = np.zeros_like(a)
    c[5:10, 10:25, 10:25] = True
    agreed = staple([a, c, a | c])  # every voxel of a | c has a majority
    assert agreed.converged and 0 < agreed.iterations < STAPLE_MAX_ITERATIONS
    assert np.array_equal(agreed.mask, a | c)


def test_staple_of_one_mask_is_that_mask_and_of_empty_masks_is_empty():
    mask = np.zeros((4, 4, 4), bool)
    mask[1, 1, 1] = True
    assert (staple([mask]).mask == mask).all()
    empty = np.zeros((4, 4, 4), bool)
    assert not staple([empty, empty]).mask.any()


def test_files_round_trip_with_sidecar_facts(tmp_path):
    flair, _, wm, lesions = block_phantom()
    paths = {}
    for name, data, dtype in (("flair", flair, np.float32), ("wm", wm, np.uint8)):
        paths[name] = tmp_path / f"{name}.nii.gz"
        nib.save(make_image(data, zooms=(1, 1, 2), dtype=dtype), paths[name])
    image, facts = segment_file(
        paths["flair"], paths["wm"], paths["wm"], FLAIRZ, subject="01", min_lesion_mm3=0
    )
    assert facts["VolumeML"] == pytest.approx(lesions.sum() * 2 / 1000, rel=0.05)
    assert (facts["GrowThreshold"], facts["EdgeFraction"]) == (None, 0.0)  # the settings
    assert dice(lesions, np.asarray(image.dataobj)) > 0.95
    masks = {}
    for name in ("a", "b"):
        masks[name] = tmp_path / f"{name}.nii.gz"
        nib.save(image, masks[name])
    silver, probability, facts = staple_files(masks, subject="01")
    assert (np.asarray(silver.dataobj) == np.asarray(image.dataobj)).all()
    assert set(np.unique(np.asarray(probability.dataobj))) <= {0.0, 1.0}  # two equal masks
    assert facts["Methods"] == ["a", "b"]
    assert facts["Converged"] is True and facts["Iterations"] > 0
    assert np.allclose(silver.affine, image.affine)


def test_a_mask_on_another_grid_names_subject_and_file(tmp_path):
    flair, _, wm, _ = block_phantom()
    nib.save(make_image(flair), tmp_path / "flair.nii.gz")
    nib.save(make_image(wm, zooms=(2, 2, 2), dtype=np.uint8), tmp_path / "wm.nii.gz")
    with pytest.raises(InputError, match=r"subject 07, file .*wm\.nii\.gz: the white-matter"):
        segment_file(
            tmp_path / "flair.nii.gz",
            tmp_path / "wm.nii.gz",
            tmp_path / "wm.nii.gz",
            FLAIRZ,
            subject="07",
            min_lesion_mm3=0,
        )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"silver": {"modality": "FLAIR", "statistic": "zscore", "threshold": 3}}, "silver"),
        ({"f": {"modality": "DWI", "statistic": "zscore", "threshold": 3}}, "DWI"),
        ({"f": {"modality": "FLAIR", "statistic": "mean", "threshold": 3}}, "mean"),
        ({"f": {"modality": "FLAIR", "statistic": "zscore", "threshold": 0}}, "half"),
        ({"f": {"modality": "FLAIR", "statistic": "percentile", "threshold": 50}}, "50"),
        (
            {
                "f": {
                    "modality": "FLAIR",
                    "statistic": "zscore",
                    "threshold": 4,
                    "grow_threshold": 5,
                }
            },
            "grow_threshold 5.0 must lie between 0 and the threshold 4",
        ),
        (
            {"f": {"modality": "FLAIR", "statistic": "zscore", "threshold": 4, "smooth_mm": -1}},
            "smooth_mm -1.0 is negative",
        ),
        (
            {"f": {"modality": "FLAIR", "statistic": "zscore", "threshold": 4, "edge_fraction": 1}},
            r"edge_fraction 1.0 must lie in \[0, 1\)",
        ),
        (
            {
                "f": {
                    "modality": "FLAIR",
                    "statistic": "percentile",
                    "threshold": 99,
                    "edge_fraction": 0.4,
                }
            },
            "edge_fraction needs statistic: zscore",
        ),
    ],
)
def test_bad_method_settings_are_named(spec, message):
    with pytest.raises(InputError, match=message):
        methods_from_config(spec)
