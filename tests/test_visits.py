"""A later visit against its subject's first: one person? (wmhmap.visits)

The real-scan test is opt-in (``WMHMAP_REAL_SCANS_DIR``): the two Lesjak patients'
clinical T1w (0.7 x 0.7 mm, 3 mm slices, neck, another grid at each visit) go through
the workflow's preprocessing; each later visit is registered onto a first visit. The
truth is who was scanned.
"""

from __future__ import annotations

import math

import nibabel as nib
import pytest
from conftest import SHARED_DATA, shared_dir

from wmhmap.preprocess import N4Settings, prepare_scan
from wmhmap.visits import compare_visits, visit_flags

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
