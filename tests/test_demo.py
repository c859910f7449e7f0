import numpy as np
import pandas as pd
import pytest
from conftest import simulate

from wmhmap.demo.cohort import CohortDesign, demo_cohort, samplesheet_with_references
from wmhmap.geometry import orientation_code, reorient_to_ras, voxel_sizes


def test_cohort_is_deterministic_balanced_and_stratified():
    design = CohortDesign(n_subjects=36, n_train=12, n_sites=3, seed=42)
    a, b = demo_cohort(design), demo_cohort(design)
    pd.testing.assert_frame_equal(a, b)
    assert a.diagnosis.value_counts().to_dict() == {"CN": 12, "MCI": 12, "AD": 12}
    train = a[a.split == "train"]
    assert len(train) == 12
    assert train.diagnosis.value_counts().min() == 4  # same share of each diagnosis
    assert train.site.value_counts().to_dict() == {"siteA": 4, "siteB": 4, "siteC": 4}
    assert (train.groupby("diagnosis").site.nunique() == 3).all()
    assert a.subject.str.fullmatch("[A-Za-z0-9]+").all()
    assert not demo_cohort(CohortDesign(seed=43)).age.equals(a.age)


def test_simulation_is_deterministic(template, demo_labels, simulated_subject):
    again = simulate(template, demo_labels, 5)
    np.testing.assert_array_equal(
        np.asarray(again.flair.dataobj), np.asarray(simulated_subject.flair.dataobj)
    )
    assert again.truth == simulated_subject.truth


def test_simulated_headers_look_like_real_data(simulated_subject):
    s = simulated_subject
    assert (
        orientation_code(s.flair) == "LPS" and orientation_code(s.t1) == "LPS"
    )  # site B stores LPS
    assert s.t1.shape != s.flair.shape
    assert voxel_sizes(s.flair)[2] > 1.5 * voxel_sizes(s.flair)[0]  # thick FLAIR slices
    assert not np.allclose(s.t1.affine, s.flair.affine)
    assert s.t1.get_data_dtype() == np.int16
    assert np.asarray(s.lesion_mask.dataobj).shape == s.flair.shape


def test_lesions_are_bright_on_flair_dark_on_t1_and_in_white_matter(simulated_subject):
    s = simulated_subject
    flair = np.asarray(reorient_to_ras(s.flair).dataobj, dtype=float)
    lesion = np.asarray(reorient_to_ras(s.lesion_mask).dataobj) > 0
    regions = np.asarray(reorient_to_ras(s.regions).dataobj)
    assert lesion.sum() > 50
    wm = (regions > 0) & ~lesion
    assert np.median(flair[lesion]) > 1.4 * np.median(flair[wm])
    assert np.mean(regions[lesion] > 0) > 0.8  # lesions sit in the white-matter regions
    assert s.truth["wmh_ml"] == pytest.approx(lesion.sum() * np.prod(voxel_sizes(s.flair)) / 1000)


def test_ad_has_more_atrophy_and_signal_region_load_than_cn(
    template, demo_labels, simulated_subject
):
    cn = simulate(template, demo_labels, 3)  # a CN subject of site B
    ad = simulated_subject
    assert cn.truth["diagnosis"] == "CN" and ad.truth["diagnosis"] == "AD"
    assert ad.truth["ventricle_expansion"] > cn.truth["ventricle_expansion"]
    assert ad.truth["hippocampal_shrinkage"] > cn.truth["hippocampal_shrinkage"]
    assert ad.truth["planted_signal_ml"] > 4 * cn.truth["planted_signal_ml"]


def test_reference_volumes_are_noisy_but_close(simulated_subject):
    rows = pd.DataFrame(
        [
            {
                "subject": f"s{i}",
                "flair": "",
                "t1": "",
                "diagnosis": "AD",
                "site": "x",
                "age": 70,
                "sex": "F",
                "lesion_mask": "",
                "split": "test",
            }
            for i in range(200)
        ]
    )
    truths = [{"subject": f"s{i}", "wmh_ml": 10.0} for i in range(200)]
    sheet = samplesheet_with_references(rows, truths, seed=1)
    ref = sheet.reference_wmh_ml.to_numpy()
    assert abs(ref.mean() - 10.0) < 0.5 and 0.8 < ref.std() < 2.0
    np.testing.assert_array_equal(
        ref, samplesheet_with_references(rows, truths, seed=1).reference_wmh_ml
    )


def test_demo_lesion_design_puts_the_diagnostic_signal_in_the_regions(template, demo_labels):
    """On the demo cohort's true loads (template space), regional loads beat the global
    load for AD vs CN, and the planted regions carry the association."""
    from wmhmap.demo.simulate import LesionModel, SubjectSpec, plant_lesions
    from wmhmap.stats.classification import classify

    model = LesionModel()
    cohort = demo_cohort(CohortDesign(n_subjects=30, n_train=10, seed=42))  # the demo's
    rows = []
    for r in cohort.itertuples():
        spec = SubjectSpec(r.subject, r.diagnosis, r.site, r.age, r.seed)
        rng = np.random.default_rng(r.seed)  # as simulate_subject draws them
        lesions, _ = plant_lesions(template, demo_labels, spec, model, rng)
        per_label = np.bincount(demo_labels.ravel(), weights=lesions.ravel(), minlength=35)
        rows.append(
            {"subject": r.subject, "global_mm3": lesions.sum()}
            | {f"region_{i:02d}": per_label[i] for i in range(1, 35)}
        )
    results = classify(
        pd.DataFrame(rows),
        cohort,
        tasks=["AD vs CN"],
        feature_sets=["global", "regional"],
        n_bootstrap=100,
    )
    auc = results.auc.set_index("feature_set")["auc"]
    assert auc["regional"] > auc["global"] + 0.1, auc
    coefficients = results.coefficients[results.coefficients.feature_set == "regional"]
    significant = {int(f[-2:]) for f in coefficients[coefficients.p < 0.05].feature}
    planted = set(model.signal_regions)
    assert len(significant & planted) >= 4, significant
    assert len(significant - planted) <= 6, significant  # most others are not


def test_randomised_scanners_draw_a_scanner_per_subject_and_image_with_it(template, demo_labels):
    """demo.scanners: randomised (domain randomisation): each subject's seed draws its own
    scanner, deterministically, across the documented ranges, and the phantom is imaged
    with that scanner's voxels and contrast; scanners: sites ignores the seed."""
    from pathlib import Path

    import yaml

    from wmhmap.demo import models_from_config
    from wmhmap.demo.simulate import SubjectSpec, simulate_subject

    config = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
    sites = yaml.safe_load(config.read_text())["demo"]
    demo = {**sites, "scanners": "randomised"}
    drawn = [models_from_config(demo, "siteA", seed)[0] for seed in range(60)]
    assert drawn[3] == models_from_config(demo, "siteB", 3)[0]  # the seed decides, not the site
    assert len({p.flair_voxel_mm for p in drawn}) == 60
    slices = [p.flair_voxel_mm[2] for p in drawn]
    lesion_to_wm = [p.flair_contrast[3] / p.flair_contrast[2] for p in drawn]
    assert 1.0 <= min(slices) < 1.5 and 5.5 < max(slices) <= 6.0
    assert 1.15 <= min(lesion_to_wm) < 1.3 and 2.0 < max(lesion_to_wm) <= 2.2
    assert {p.flair_orientation for p in drawn} == {"RAS", "LPS"}
    assert models_from_config(sites, "siteB", 1)[0] == models_from_config(sites, "siteB", 2)[0]

    # a faint-lesion scanner with thick slices, imaged
    seed = next(s for s, p in enumerate(drawn) if lesion_to_wm[s] < 1.4 and slices[s] > 4)
    profile, lesions, anatomy = models_from_config(demo, "siteA", seed)
    spec = SubjectSpec("r1", "AD", "siteA", 75.0, 11)
    phantom = simulate_subject(template, demo_labels, spec, profile, lesions, anatomy)
    assert voxel_sizes(phantom.flair) == pytest.approx(profile.flair_voxel_mm)
    assert orientation_code(phantom.flair) == profile.flair_orientation
    flair = np.asarray(reorient_to_ras(phantom.flair).dataobj, dtype=float)
    lesion = np.asarray(reorient_to_ras(phantom.lesion_mask).dataobj) > 0
    wm = (np.asarray(reorient_to_ras(phantom.regions).dataobj) > 0) & ~lesion
    ratio = np.median(flair[lesion]) / np.median(flair[wm])
    # partial volume at thick slices only lowers it; the demo's site B images 2.27
    assert 0.8 * lesion_to_wm[seed] < ratio < 1.05 * lesion_to_wm[seed] < 1.5
