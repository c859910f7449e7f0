"""nnU-Net raw datasets of the lesion and region models, and subject-grouped folds.

Input modes
-----------
``single_channel`` (as in the studies): every available scan of a training subject
is its own one-channel case (``<subject>_FLAIR``, ``<subject>_T1w``) with the same
label, which doubles the training set and lets a subject with one modality still be
segmented. ``multichannel``: one case per subject with FLAIR and T1w as channels 0
and 1 (subjects lacking either are left out of training).

All images are the workflow's ``desc-preproc`` images, already on each subject's
analysis grid, so image and label always share a grid.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt

from wmhmap.errors import InputError
from wmhmap.imageio import like, load_image, same_grid
from wmhmap.regions import OTHER, OTHER_LEFT, OTHER_RIGHT

INPUT_MODES = ("single_channel", "multichannel")
MODALITY_ORDER = ("FLAIR", "T1w")
IGNORE_LABEL_NAME = "ignore"


@dataclass(frozen=True)
class TrainingSubject:
    """One training subject: its preprocessed images and its label map.

    ``variant`` tells several label maps of one subject apart (the bronze masks of
    different classic methods): each becomes its own cases, ``<subject>_<variant>_*``,
    and all of them stay in the subject's fold.
    """

    subject: str
    images: Mapping[str, Path]
    label: Path
    variant: str = ""


@dataclass(frozen=True)
class Case:
    """One nnU-Net training case: an identifier, its channel images, its label."""

    identifier: str
    subject: str
    channels: tuple[Path, ...]
    label: Path


@dataclass
class RawDataset:
    folder: Path
    cases: list[Case] = field(default_factory=list)

    def subjects_of_cases(self) -> dict[str, str]:
        return {c.identifier: c.subject for c in self.cases}


def cases_for(subject: TrainingSubject, input_mode: str) -> list[Case]:
    """The nnU-Net cases one subject contributes.

    >>> s = TrainingSubject("001", {"FLAIR": Path("f"), "T1w": Path("t")}, Path("l"))
    >>> [c.identifier for c in cases_for(s, "single_channel")]
    ['001_FLAIR', '001_T1w']
    >>> [c.channels for c in cases_for(s, "multichannel")]
    [(PosixPath('f'), PosixPath('t'))]
    >>> b = TrainingSubject("001", {"FLAIR": Path("f")}, Path("l"), variant="flairz")
    >>> [(c.identifier, c.subject) for c in cases_for(b, "single_channel")]
    [('001_flairz_FLAIR', '001')]
    """
    if input_mode not in INPUT_MODES:
        raise InputError(f"unknown input mode {input_mode!r}", fix=f"use one of {INPUT_MODES}")
    present = [m for m in MODALITY_ORDER if m in subject.images]
    stem = f"{subject.subject}_{subject.variant}" if subject.variant else subject.subject
    if input_mode == "single_channel":
        return [
            Case(f"{stem}_{m}", subject.subject, (Path(subject.images[m]),), subject.label)
            for m in present
        ]
    if len(present) < len(MODALITY_ORDER):
        return []
    channels = tuple(Path(subject.images[m]) for m in MODALITY_ORDER)
    return [Case(stem, subject.subject, channels, subject.label)]


def channel_names(input_mode: str) -> dict[int, str]:
    """Channel names for dataset.json (names other than 'CT' mean z-score normalisation)."""
    if input_mode == "single_channel":
        return {0: "MRI"}
    return {i: m for i, m in enumerate(MODALITY_ORDER)}


def lesion_labels(label_arrays: Sequence[npt.NDArray[np.generic]]) -> dict[str, int]:
    """Labels of the lesion dataset; reference label 2 (other pathology) becomes nnU-Net's
    ignore label, so those voxels count neither as lesion nor as background."""
    labels = {"background": 0, "WMH": 1}
    if any((np.asarray(a) == 2).any() for a in label_arrays):
        labels[IGNORE_LABEL_NAME] = 2
    return labels


def region_labels(
    region_ids: Sequence[int], label_arrays: Sequence[npt.NDArray[np.generic]] = ()
) -> dict[str, int]:
    """Labels of the region dataset: background plus ``region_01`` ... (consecutive ids),
    and the "other white matter" labels 35/36 when a training map holds them.

    >>> list(region_labels(range(1, 35), [np.array([0, 1, 36])]))[-3:]
    ['region_34', 'other_left', 'other_right']
    """
    ids = sorted(int(i) for i in region_ids)
    if ids != list(range(1, len(ids) + 1)):
        raise InputError(
            f"region ids must run 1..N without gaps for nnU-Net, got {ids[:5]}...",
            fix="renumber the region table",
        )
    labels = {"background": 0, **{f"region_{i:02d}": i for i in ids}}
    present = set().union(*(np.unique(a).astype(int).tolist() for a in label_arrays))
    if present & set(OTHER) and ids[-1] < OTHER_LEFT:
        if ids[-1] != OTHER_LEFT - 1:
            raise InputError(
                f"maps with the other white-matter labels {OTHER} need region ids 1..34, "
                f"got 1..{ids[-1]}",
                fix="use the 34-region table, or region maps without labels 35/36",
            )
        labels.update(other_left=OTHER_LEFT, other_right=OTHER_RIGHT)
    return labels


def _checked_label(case: Case, allowed: set[int]) -> nib.Nifti1Image:
    label = load_image(
        case.label, subject=case.subject, role="training label", dtype=None, allow_constant=True
    )
    values = set(np.unique(np.asarray(label.dataobj)).astype(int).tolist())
    if not values <= allowed:
        raise InputError(
            f"training label holds values {sorted(values - allowed)} outside {sorted(allowed)}",
            subject=case.subject,
            file=case.label,
            fix="check the lesion mask / region map of this subject",
        )
    return label


def write_raw_dataset(
    folder: Path,
    subjects: Sequence[TrainingSubject],
    *,
    input_mode: str,
    labels: Mapping[str, int],
    dataset_name: str,
    description: str,
) -> RawDataset:
    """Write ``imagesTr``, ``labelsTr`` and ``dataset.json`` (nnU-Net's own generator).

    Images are copied; labels are rewritten as uint8 on their image's grid (a label on
    another grid is an error naming the subject and file).
    """
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    if folder.exists():
        shutil.rmtree(folder)
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir(parents=True)
    allowed = set(labels.values())
    dataset = RawDataset(folder)
    for subject in subjects:
        for case in cases_for(subject, input_mode):
            label = _checked_label(case, allowed)
            for i, channel in enumerate(case.channels):
                image = load_image(channel, subject=case.subject, role="training image")
                if not same_grid(image, label):
                    raise InputError(
                        "image and training label are on different grids",
                        subject=case.subject,
                        file=channel,
                        fix="give labels on the subject's analysis grid (the desc-preproc images')",
                    )
                shutil.copyfile(channel, folder / "imagesTr" / f"{case.identifier}_{i:04d}.nii.gz")
            out = like(np.asarray(label.dataobj).astype(np.uint8), label, np.uint8)
            nib.save(out, folder / "labelsTr" / f"{case.identifier}.nii.gz")
            dataset.cases.append(case)
    if not dataset.cases:
        raise InputError(
            f"no training cases for {dataset_name} (input mode {input_mode})",
            fix="mark subjects with split=train in the sample sheet and give lesion masks "
            "(multichannel training needs both FLAIR and T1w)",
        )
    generate_dataset_json(
        str(folder),
        channel_names=channel_names(input_mode),
        labels=dict(labels),
        num_training_cases=len(dataset.cases),
        file_ending=".nii.gz",
        dataset_name=dataset_name,
        description=description,
        overwrite_image_reader_writer="NibabelIO",
        license="see the source data",
        converted_by="wmhmap",
        input_mode=input_mode,
        case_subjects=dataset.subjects_of_cases(),
    )
    return dataset


def grouped_splits(
    case_subjects: Mapping[str, str], n_folds: int, seed: int
) -> list[dict[str, list[str]]]:
    """Cross-validation folds grouped by subject (nnU-Net's ``splits_final.json``).

    All cases of a subject (its FLAIR and T1w cases in single-channel mode) sit on the
    same side of every split. Subjects are shuffled with ``seed`` and dealt to folds
    round-robin, so fold sizes differ by at most one subject.

    >>> grouped_splits({"a_F": "a", "a_T": "a", "b_F": "b", "c_F": "c"}, 3, 0)[0]["val"] in (
    ...     ["a_F", "a_T"], ["b_F"], ["c_F"])
    True
    """
    subjects = sorted(set(case_subjects.values()))
    if n_folds < 2:
        raise InputError(
            f"{n_folds} folds: cross-validation needs at least 2", fix="set nnunet.folds >= 2"
        )
    if len(subjects) < n_folds:
        raise InputError(
            f"{len(subjects)} training subjects cannot fill {n_folds} folds",
            fix="add training subjects (split=train) or lower nnunet.folds",
        )
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    fold_of = {s: i % n_folds for i, s in enumerate(order)}
    splits = []
    for fold in range(n_folds):
        val = sorted(c for c, s in case_subjects.items() if fold_of[s] == fold)
        train = sorted(c for c, s in case_subjects.items() if fold_of[s] != fold)
        splits.append({"train": train, "val": val})
    return splits


def read_case_subjects(dataset_json: Path) -> dict[str, str]:
    return dict(json.loads(dataset_json.read_text())["case_subjects"])


def held_out_fold(
    splits: Sequence[Mapping[str, Sequence[str]]], case_subjects: Mapping[str, str], subject: str
) -> int | None:
    """The fold whose model did not learn from ``subject`` (its cases are that fold's
    ``val``), or None when the subject is not a training case of the dataset.

    ``splits`` is nnU-Net's ``splits_final.json``, ``case_subjects`` the dataset's map
    of case identifiers to visits (``dataset.json``).

    >>> splits = grouped_splits({"a_F": "a", "a_T": "a", "b_F": "b"}, 2, 0)
    >>> held_out_fold(splits, {"a_F": "a", "a_T": "a", "b_F": "b"}, "a") in (0, 1)
    True
    >>> held_out_fold(splits, {"a_F": "a", "a_T": "a", "b_F": "b"}, "c") is None
    True
    """
    cases = {c for c, s in case_subjects.items() if s == subject}
    folds = [k for k, split in enumerate(splits) if cases & set(split["val"])]
    if len(folds) > 1:
        raise InputError(
            f"subject {subject} is held out by folds {folds}: the splits are not grouped "
            "by subject",
            subject=subject,
            fix="delete splits_final.json and rerun plan_nnunet",
        )
    return folds[0] if folds else None


def read_held_out_fold(splits_file: Path, dataset_json: Path, subject: str) -> int | None:
    """:func:`held_out_fold` from a dataset's ``splits_final.json`` and ``dataset.json``."""
    splits = json.loads(Path(splits_file).read_text())
    return held_out_fold(splits, read_case_subjects(Path(dataset_json)), subject)
