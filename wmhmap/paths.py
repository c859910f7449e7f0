"""BIDS-derivative file names: one builder names every file the workflow writes."""

from __future__ import annotations

ENTITY_ORDER = ("sub", "ses", "from", "to", "space", "label", "desc", "mode", "fold", "model")


def bids(
    root: str,
    *,
    subject: str,
    suffix: str,
    datatype: str = "anat",
    extension: str = ".nii.gz",
    **entities: str | None,
) -> str:
    """Path of a subject-level file, e.g. ``root/sub-01/anat/sub-01_desc-n4_FLAIR.nii.gz``.

    Entities are written in BIDS order; ``None`` values are left out. Any value may be
    a Snakemake wildcard such as ``"{subject}"``.

    Examples
    --------
    >>> bids("results", subject="{subject}", desc="n4", suffix="{modality}")
    'results/sub-{subject}/anat/sub-{subject}_desc-n4_{modality}.nii.gz'
    >>> bids("r", subject="01", datatype="xfm", suffix="xfm", extension=".mat",
    ...      **{"from": "T1w", "to": "FLAIR", "mode": "image"})
    'r/sub-01/xfm/sub-01_from-T1w_to-FLAIR_mode-image_xfm.mat'
    """
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ValueError(f"unknown BIDS entities {sorted(unknown)}; known: {ENTITY_ORDER}")
    parts = [f"sub-{subject}"]
    parts += [f"{key}-{entities[key]}" for key in ENTITY_ORDER if entities.get(key) is not None]
    name = "_".join([*parts, suffix]) + extension
    return f"{root}/sub-{subject}/{datatype}/{name}"
