"""A later visit against its subject's first: one person? (wmhmap.visits)

The real-scan test is opt-in (``WMHMAP_REAL_SCANS_DIR``): the two Lesjak patients'
clinical T1w (0.7 x 0.7 mm, 3 mm slices, neck, another grid at each visit) go through
the workflow's preprocessing; each later visit is registered onto a first visit. The
truth is who was scanned.
"""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
from conftest import SHARED_DATA, shared_dir

from wmhmap.preprocess import N4Settings, prepare_scan
from wmhmap.visits import cohort_visit_flags, compare_visits, visit_flags

THRESHOLD = 0.55  # config qc.min_visit_csf_dice


@pytest.mark.parametrize(
    ("csf", "flagged"),
    [(0.74, False), (0.55, False), (0.546, True), (0.08, True), (math.nan, False), (None, False)],
)
def test_a_visit_is_flagged_below_the_csf_threshold_only(csf, flagged):
    row = {"visit_csf_dice": csf, "first_visit": "07_ses-1", "visit_modality": "FLAIR"}
    flags = visit_flags(row, THRESHOLD)
    assert bool(flags) == flagged
    if flagged:
        assert flags[0].measure == "visit_csf_dice" and flags[0].value == csf
        assert "first visit (07_ses-1, FLAIR)" in flags[0].reason
        assert "another person's scan" in flags[0].reason
    assert visit_flags({}, THRESHOLD) == []  # a first visit has no comparison


def _cohort(*later_csf: float) -> list[dict]:
    """A subject's first visit and later visits with these CSF overlaps, and another
    subject with two visits that meet (table rows as collect_registration_qc reads them)."""
    rows = [{"subject": "01_ses-1", "first_visit": math.nan, "visit_csf_dice": math.nan}]
    rows += [
        {
            "subject": f"01_ses-{i}",
            "first_visit": "01_ses-1",
            "visit_modality": "T1w",
            "visit_csf_dice": csf,
        }
        for i, csf in enumerate(later_csf, start=2)
    ]
    rows += [
        {"subject": "02_ses-1"},
        {
            "subject": "02_ses-2",
            "first_visit": "02_ses-1",
            "visit_modality": "FLAIR",
            "visit_csf_dice": 0.81,
        },
    ]
    return rows


@pytest.mark.parametrize(
    ("later_csf", "flagged", "says"),
    [
        # one later visit: either of the two can be the other person's
        ((0.31,), {"01_ses-2"}, "one of the two is another person's scan"),
        ((0.8,), set(), None),
        # the other later visits meet the first: the failing one is the odd one
        ((0.78, 0.29, 0.74), {"01_ses-3"}, "2 other later visits of this subject meet"),
        ((0.29, 0.74), {"01_ses-2"}, "1 other later visit of this subject meets"),
        # none meets the first: the first is the odd one, and flagged too
        ((0.29, 0.33, 0.41), {"01_ses-1", "01_ses-2", "01_ses-3", "01_ses-4"}, "first visit is"),
        # a later visit without a comparison (no shared modality) does not count
        ((0.29, math.nan), {"01_ses-2"}, "one of the two is another person's scan"),
    ],
)
def test_a_subjects_other_visits_tell_which_visit_is_the_odd_one(later_csf, flagged, says):
    flags = cohort_visit_flags(_cohort(*later_csf), THRESHOLD)
    assert set(flags) == flagged
    for visit, (flag,) in flags.items():
        assert flag.measure == "visit_csf_dice"
        if visit == "01_ses-1":  # the first visit: the best overlap any later visit reached
            assert flag.value == max(later_csf)
            assert "none of the 3 later visits (01_ses-2, 01_ses-3, 01_ses-4)" in flag.reason
            assert "(T1w; at best 0.41 < 0.55)" in flag.reason
        else:
            assert flag.value == later_csf[int(visit[-1]) - 2]
            assert says in flag.reason


def test_a_first_visit_flag_names_each_modality_its_later_visits_were_compared_by():
    rows = _cohort(0.29, 0.33)
    rows[1]["visit_modality"] = "FLAIR"  # that visit had no T1w
    (flag,) = cohort_visit_flags(rows, THRESHOLD)["01_ses-1"]
    assert "(FLAIR, T1w; at best 0.33 < 0.55)" in flag.reason


@pytest.fixture(scope="module")
def lesjak_t1w():
    root = shared_dir("WMHMAP_REAL_SCANS_DIR", SHARED_DATA / "real_scans")
    scans = root / "lesjak_longitudinal"
    n4 = N4Settings()
    return {
        (patient, study): prepare_scan(
            nib.load(scans / patient / f"{study}_T1W.nii.gz"), n4, subject=f"{patient}_{study}"
        )
        for patient, study in (
            ("patient01", "study1"),
            ("patient01", "study2"),
            ("patient12", "study2"),
        )
    }


@pytest.mark.realdata
def test_a_later_visit_of_another_person_is_told_from_the_persons_own(lesjak_t1w):
    """Patient 01's second visit lies on the first in CSF (measured 0.79); patient 12's
    scan filed as that visit fits the brain outline nearly as well (0.95) but not the
    CSF (0.36-0.38): the brain overlap alone cannot tell them apart."""
    first = lesjak_t1w["patient01", "study1"]

    def against_first(key):
        later = lesjak_t1w[key]
        return compare_visits(first.image, first.brain, later.image, later.brain)

    own = against_first(("patient01", "study2"))
    other = against_first(("patient12", "study2"))
    assert own["visit_brain_dice"] > 0.97, own
    assert own["visit_csf_dice"] > 0.7, own
    assert other["visit_brain_dice"] > 0.9, other  # the outline alone cannot tell
    assert other["visit_csf_dice"] < 0.45, other
    assert not visit_flags(own, THRESHOLD)
    assert [f.measure for f in visit_flags(other, THRESHOLD)] == ["visit_csf_dice"]
    # one scanner a year apart: the head measures the same (1 for the rigid fit)
    assert own["visit_scale"] == pytest.approx(1, abs=0.02), own


@pytest.mark.realdata
def test_a_first_visit_of_another_person_is_told_by_the_later_visits(lesjak_t1w):
    """Patient 12's scan filed as the first visit of patient 01, whose two real visits
    follow: neither later visit meets it, so the first visit is the one flagged as
    another person's (and both later visits say so)."""
    first = lesjak_t1w["patient12", "study2"]
    rows = [{"subject": "01_ses-1"}]
    for i, study in enumerate(("study1", "study2"), start=2):
        later = lesjak_t1w["patient01", study]
        measured = compare_visits(first.image, first.brain, later.image, later.brain)
        assert measured["visit_csf_dice"] < 0.45, (study, measured)
        rows.append(
            {
                "subject": f"01_ses-{i}",
                "first_visit": "01_ses-1",
                "visit_modality": "T1w",
                **measured,
            }
        )
    flags = cohort_visit_flags(rows, THRESHOLD)
    assert set(flags) == {"01_ses-1", "01_ses-2", "01_ses-3"}
    assert "likely another person's scan" in flags["01_ses-1"][0].reason
    assert all(
        "first visit is likely the odd one" in flags[v][0].reason for v in ("01_ses-2", "01_ses-3")
    )


def _rescaled(img: nib.Nifti1Image, scale: float, centre_mm: np.ndarray) -> nib.Nifti1Image:
    """``img`` with its voxels ``scale`` times their size about ``centre_mm``: the same
    head as a scanner with another gradient calibration shows it."""
    about = np.eye(4)
    about[:3, :3] *= scale
    about[:3, 3] = centre_mm * (1 - scale)
    return nib.Nifti1Image(np.asarray(img.dataobj), about @ img.affine)


@pytest.mark.realdata
def test_a_later_visit_on_a_scanner_that_scales_the_head_is_the_same_person(lesjak_t1w):
    """Patient 01's second visit with its voxels 3 % smaller (another scanner's gradient
    calibration; ``bench_visit_followup.py`` resamples the scan instead): fitted rigidly
    alone, its CSF misses the first visit's by the scale (measured 0.50, flagged); the
    fit with a scale, started from the rigid one, takes it up (0.79, as unscaled), and
    the table says so: the scaled fit counted, and the later head measures 0.97 of the
    first's (its volumes 0.91)."""
    from wmhmap.atlas import csf_overlap
    from wmhmap.preprocess import register_linear

    first, later = lesjak_t1w["patient01", "study1"], lesjak_t1w["patient01", "study2"]
    brain = np.asarray(later.brain.dataobj) > 0
    centre = (later.brain.affine @ np.r_[np.argwhere(brain).mean(0), 1])[:3]
    image, mask = (_rescaled(img, 0.97, centre) for img in (later.image, later.brain))
    rigid = register_linear(first.image, image, kind="Rigid")
    rigid_only = csf_overlap(image, first.image, first.brain, rigid)
    measured = compare_visits(first.image, first.brain, image, mask)
    assert rigid_only < THRESHOLD, rigid_only
    assert measured["visit_csf_dice"] > 0.7, measured
    assert not visit_flags(measured, THRESHOLD)
    assert measured["visit_fit"] == "Similarity", measured
    assert measured["visit_scale"] == pytest.approx(0.97, abs=0.01), measured
