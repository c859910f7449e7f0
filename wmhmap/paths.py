"""BIDS-derivative file names: one builder names every file the workflow writes."""

from __future__ import annotations

from collections.abc import Mapping

ENTITY_ORDER = ("sub", "ses", "from", "to", "space", "label", "desc", "mode", "fold", "model")
SESSION_SEPARATOR = "_ses-"


def derivative_path(
    root: str,
    *,
    subject: str,
    suffix: str,
    datatype: str = "anat",
    extension: str = ".nii.gz",
    **entities: str | None,
) -> str:
    """Path of a subject-level file, e.g. ``root/sub-01/anat/sub-01_desc-n4_FLAIR.nii.gz``.

    Entities are written in BIDS order; ``None`` values are left out. A session (``ses``)
    adds its folder. Any value may be a Snakemake wildcard such as ``"{subject}"``.

    Examples
    --------
    >>> derivative_path("results", subject="{subject}", desc="n4", suffix="{modality}")
    'results/sub-{subject}/anat/sub-{subject}_desc-n4_{modality}.nii.gz'
    >>> derivative_path("r", subject="01", datatype="xfm", suffix="xfm", extension=".mat",
    ...      **{"from": "T1w", "to": "FLAIR", "mode": "image"})
    'r/sub-01/xfm/sub-01_from-T1w_to-FLAIR_mode-image_xfm.mat'
    >>> derivative_path("r", subject="01", ses="2", space="FLAIR", desc="wmh", suffix="mask")
    'r/sub-01/ses-2/anat/sub-01_ses-2_space-FLAIR_desc-wmh_mask.nii.gz'
    """
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ValueError(f"unknown BIDS entities {sorted(unknown)}; known: {ENTITY_ORDER}")
    parts = [f"sub-{subject}"]
    parts += [f"{key}-{entities[key]}" for key in ENTITY_ORDER if entities.get(key) is not None]
    name = "_".join([*parts, suffix]) + extension
    session = f"ses-{entities['ses']}/" if entities.get("ses") is not None else ""
    return f"{root}/sub-{subject}/{session}{datatype}/{name}"


def subject_key(subject: str, session: str | None = None) -> str:
    """The id of one scanning visit: the subject label, plus ``_ses-<label>`` for sessions.

    It names the visit in every table (column ``subject``) and log.

    >>> subject_key("01"), subject_key("01", "baseline")
    ('01', '01_ses-baseline')
    """
    return f"{subject}{SESSION_SEPARATOR}{session}" if session else subject


def split_key(key: str) -> tuple[str, str | None]:
    """Subject and session (or None) of a visit id; inverse of :func:`subject_key`.

    >>> split_key("01_ses-baseline"), split_key("01")
    (('01', 'baseline'), ('01', None))
    """
    subject, _, session = key.partition(SESSION_SEPARATOR)
    return subject, session or None


def wildcards_key(wildcards: Mapping[str, str]) -> str:
    """The visit id named by a job's ``subject`` (and ``session``) wildcards."""
    return subject_key(wildcards["subject"], wildcards.get("session"))
