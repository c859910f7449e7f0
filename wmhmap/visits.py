"""Are a subject's visits one person? Each later visit's scan against the first visit's.

In a longitudinal cohort every visit is preprocessed, registered and segmented on its
own, and the loads of a subject's visits are compared as one person's course. A scan
of another person filed under the subject (a mislabelled session folder, a swapped
subject id in a sample sheet) then reads as a change of disease, and no per-visit
check can see it: each visit is a good scan of a brain.

:func:`compare_visits` registers a later visit's scan onto the same modality of the
subject's first visit (rigidly, and with one scale as well: the better fit counts), with
the settings of the T1w -> FLAIR fit, and measures two things where the fit puts it:

- ``visit_brain_dice``: the brain masks' overlap (:func:`wmhmap.atlas.coregistration_overlap`);
- ``visit_csf_dice``: the overlap of the darkest tenth of the brain on both scans,
  ventricles and sulci (:func:`wmhmap.atlas.csf_overlap`), which are each person's own.

On real scans (``benchmarks/bench_visit_pairs.py``: the two Lesjak patients' two
visits, lesjak07, the ISBI FLAIRs and four WMH-challenge T1w; 1-4.4 mm slices, with and
without skull; also three scans with their slices merged to 4-6 mm, as a follow-up of
another protocol): the same person's visits overlap in CSF 0.74-0.87, another person's
scan 0.13-0.45, while its brain outline overlaps 0.66-0.96 (median 0.92), often nearly
as well as the person's own (0.97-0.99). A visit below ``qc.min_visit_csf_dice`` (0.55) is flagged
(:func:`visit_flags`). One failed comparison cannot say which of its two visits is the
other person's; with two or more later visits the subject's other comparisons can
(:func:`cohort_visit_flags`): a later visit that alone fails is the odd one, and when
every later visit fails, the first is, and it is flagged too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import nibabel as nib

from wmhmap.atlas import coregistration_overlap, csf_overlap, fit_scale
from wmhmap.preprocess import LinearRegistrationSettings, LinearTransform, register_linear
from wmhmap.qc import Flag, finite_value

COLUMNS = (
    "first_visit",
    "visit_modality",
    "visit_brain_dice",
    "visit_csf_dice",
    "visit_fit",
    "visit_scale",
)
"""The columns a visit's comparison adds to ``registration_qc.tsv`` (n/a for a first
visit, and for a visit that shares no modality with it)."""


def visit_fits(
    first: nib.Nifti1Image,
    later: nib.Nifti1Image,
    *,
    settings: LinearRegistrationSettings | None = None,
) -> dict[str, LinearTransform]:
    """The fits a later visit's scan is tried with onto the first visit's: rigid, and
    with one scale as well (``Similarity``), started from the rigid fit."""
    rigid = register_linear(first, later, kind="Rigid", settings=settings)
    scaled = register_linear(first, later, kind="Similarity", settings=settings, initial=rigid)
    return {"Rigid": rigid, "Similarity": scaled}


def compare_visits(
    first: nib.Nifti1Image,
    first_brain: nib.Nifti1Image,
    later: nib.Nifti1Image,
    later_brain: nib.Nifti1Image,
    *,
    settings: LinearRegistrationSettings | None = None,
) -> dict[str, float | str]:
    """Register ``later`` (a later visit's bias-corrected scan) onto ``first`` (the same
    modality of the subject's first visit) and measure how their brains and their CSF
    meet (each scan's brain mask is its own, on its own grid).

    Two fits are tried, and the one whose CSF meets better counts (:func:`visit_fits`): a
    rigid one, and one with a single scale as well. The scale takes up what a rigid fit
    cannot: a follow-up on another scanner, whose gradient calibration scales the head,
    and years of atrophy. The Lesjak patients' real later visits changed so
    (``benchmarks/bench_visit_followup.py``): scaled by 3 %, the rigid fit's CSF overlap
    falls from 0.79-0.83 to 0.50-0.51 (flagged), the better fit's stays at 0.79-0.80;
    the brain shrunk by 4 % inside its skull and the ventricles grown by a fifth: 0.54-0.56
    rigid, 0.71-0.72 the better. The scaled fit alone once fell into a wrong optimum
    (0.17, the rigid fit 0.81): the better of the two keeps both. Another person's scan
    meets hardly better for it (``benchmarks/bench_visit_pairs.py``: at most 0.454, the
    rigid fit alone 0.451).

    Returns ``visit_brain_dice`` and ``visit_csf_dice`` of the fit that counts, its kind
    (``visit_fit``: ``Rigid`` or ``Similarity``) and ``visit_scale``, the later visit's
    head measured against the first's (1 for the rigid fit; the cube of it for volumes):
    a scale that counts tells of another scanner's calibration or of atrophy, and that
    the visits' volumes in mL are not measured alike.
    """
    best: dict[str, float | str] = {}
    best_csf = math.nan
    for kind, fit in visit_fits(first, later, settings=settings).items():
        csf = csf_overlap(later, first, first_brain, fit)
        if not best or csf > best_csf or math.isnan(best_csf):
            best_csf = csf
            best = {
                "visit_brain_dice": coregistration_overlap(later_brain, first_brain, fit),
                "visit_csf_dice": csf,
                "visit_fit": kind,
                "visit_scale": fit_scale(fit),
            }
    return best


DEFAULT_WHY = "one of the two is another person's scan, or a session is misnamed"


def visit_flags(
    row: Mapping[str, Any], min_csf_dice: float, *, why: str | None = None
) -> list[Flag]:
    """The reason to inspect a visit whose CSF does not meet its first visit's (empty
    when it does, and for a first visit or a visit without a comparison).

    >>> [f.reason for f in visit_flags({"visit_csf_dice": 0.8, "first_visit": "1"}, 0.55)]
    []
    >>> flag, = visit_flags({"visit_csf_dice": 0.31, "first_visit": "01_ses-1",
    ...                      "visit_modality": "T1w"}, 0.55)
    >>> flag.measure, flag.reason[:56]
    ('visit_csf_dice', 'visits: CSF overlap with the first visit (01_ses-1, T1w)')
    """
    csf = finite_value(row.get("visit_csf_dice"))
    if csf is None or csf >= min_csf_dice:
        return []
    return [
        Flag(
            "visit_csf_dice",
            csf,
            f"visits: CSF overlap with the first visit ({row.get('first_visit')}, "
            f"{row.get('visit_modality')}) {csf:.2f} < {min_csf_dice:.2f} (ventricles and "
            f"sulci do not meet: {why or DEFAULT_WHY})",
        )
    ]


def cohort_visit_flags(
    rows: Sequence[Mapping[str, Any]], min_csf_dice: float
) -> dict[str, list[Flag]]:
    """Each visit's flags from the comparisons of the whole cohort, by visit id.

    One failed comparison says only that one of its two visits is another person's.
    With two or more later visits, the subject's other comparisons tell which:

    - some later visits meet the first and one does not: that one is the odd one;
    - no later visit meets the first: the first visit is the odd one, and it is flagged
      too (measure ``visit_csf_dice``: the highest overlap a later visit reached).

    ``rows`` are ``registration_qc.tsv`` rows (``subject``, and :data:`COLUMNS` where the
    visit was compared). Visits without flags are left out.

    >>> rows = [{"subject": "01_ses-1"},
    ...         {"subject": "01_ses-2", "first_visit": "01_ses-1", "visit_csf_dice": 0.31},
    ...         {"subject": "01_ses-3", "first_visit": "01_ses-1", "visit_csf_dice": 0.28}]
    >>> flags = cohort_visit_flags(rows, 0.55)
    >>> sorted(flags), flags["01_ses-1"][0].value
    (['01_ses-1', '01_ses-2', '01_ses-3'], 0.31)
    """
    later: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        compared = finite_value(row.get("visit_csf_dice")) is not None
        if compared and isinstance(row.get("first_visit"), str):
            later.setdefault(row["first_visit"], []).append(row)
    flagged: dict[str, list[Flag]] = {}
    for first, visits in later.items():
        failed = [r for r in visits if float(r["visit_csf_dice"]) < min_csf_dice]
        met = len(visits) - len(failed)
        if len(visits) == 1:
            why = None
        elif met:
            why = (
                f"{met} other later visit{'s' if met > 1 else ''} of this subject "
                f"meet{'' if met > 1 else 's'} the first: this visit is likely the odd one"
            )
        else:
            why = "no later visit meets the first: the first visit is likely the odd one"
        for row in failed:
            flagged.setdefault(str(row["subject"]), []).extend(
                visit_flags(row, min_csf_dice, why=why)
            )
        if len(visits) > 1 and not met:
            best = max(float(r["visit_csf_dice"]) for r in visits)
            names = ", ".join(str(r["subject"]) for r in visits)
            modalities = ", ".join(sorted({str(r.get("visit_modality")) for r in visits}))
            flagged.setdefault(first, []).append(
                Flag(
                    "visit_csf_dice",
                    best,
                    f"visits: none of the {len(visits)} later visits ({names}) meets this "
                    f"first visit's CSF ({modalities}; at best "
                    f"{best:.2f} < {min_csf_dice:.2f}): this visit is likely another "
                    "person's scan, or its session is misnamed",
                )
            )
    return flagged
