"""Which models a run trains, from what, and on which subjects.

Pure functions of the config and the sample table, so the workflow's choices can be
unit-tested without Snakemake. A cohort needs no expert mask and no split to run:

- the **lesion model** comes from a pretrained zip if one is given, else from the
  expert masks of the training subjects (``split = train`` with a ``lesion_mask``) when
  there are enough of them for the folds, else from annotation-free training on the
  cohort itself (the STAPLE consensus of the classic segmenters) -- see
  :func:`lesion_model_source`;
- the **region model** is trained only when something uses it: the loads
  (``loads.regions: model``) or its evaluation against given region maps (the
  ``region_map`` column, or the demo's true maps) -- see :func:`region_model_plan`. Its
  labels need no expert (a given region map, else the atlas propagation), so it learns
  from the ``split = train`` subjects when there are enough, else from every subject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wmhmap.errors import InputError

TRAINING_MODES = ("auto", "gold", "staged", "annotation_free")
"""``models.lesion.training_mode`` values; ``auto`` resolves to gold or annotation_free."""


@dataclass(frozen=True)
class LesionModelSource:
    """Where the lesion model's folds come from.

    ``training_mode`` is the resolved mode (gold, staged or annotation_free), or None
    for a pretrained model; ``reason`` is the sentence the run logs.
    """

    training_mode: str | None
    reason: str

    @property
    def pretrained(self) -> bool:
        return self.training_mode is None


def lesion_model_source(
    *,
    training_mode: str,
    pretrained: str,
    n_expert: int,
    folds: int,
    classic_methods: Sequence[str],
) -> LesionModelSource:
    """Resolve the lesion model's source.

    ``n_expert`` is the number of training subjects (split = train) with an expert lesion
    mask, ``classic_methods`` the methods whose consensus is the silver mask (those of
    ``classic.silver`` that ``classic.use`` runs; empty when it runs none).

    >>> lesion_model_source(training_mode="auto", pretrained="", n_expert=10, folds=5,
    ...                     classic_methods=["flairz"]).training_mode
    'gold'
    >>> s = lesion_model_source(training_mode="auto", pretrained="", n_expert=0, folds=5,
    ...                         classic_methods=["flairz", "flairpct"])
    >>> s.training_mode, s.reason[:40]
    ('annotation_free', 'lesion model: trained annotation-free on')
    >>> lesion_model_source(training_mode="auto", pretrained="m.zip", n_expert=0, folds=5,
    ...                     classic_methods=[]).pretrained
    True
    """
    if training_mode not in TRAINING_MODES:
        raise InputError(
            f"models.lesion.training_mode is {training_mode!r}",
            file="config",
            fix=f"use one of {', '.join(TRAINING_MODES)}",
        )
    if pretrained:
        return LesionModelSource(
            None,
            f"lesion model: the pretrained zip {pretrained} (models.lesion.pretrained), "
            "inference only",
        )
    experts = (
        f"{n_expert} training subject{'s' if n_expert != 1 else ''} (split = train) "
        f"{'have' if n_expert != 1 else 'has'} an expert lesion_mask"
    )
    if training_mode != "auto":
        return LesionModelSource(
            training_mode,
            f"lesion model: trained, models.lesion.training_mode: {training_mode} ({experts})",
        )
    if n_expert >= folds:
        return LesionModelSource(
            "gold",
            f"lesion model: trained on expert masks: {experts}, enough for "
            f"nnunet.folds = {folds} (models.lesion.training_mode: auto)",
        )
    if not classic_methods:
        raise InputError(
            f"the lesion model has no source: no models.lesion.pretrained zip, {experts} "
            f"(nnunet.folds = {folds} needs {folds}), and classic.use is empty, so it "
            "cannot be trained annotation-free either",
            file="config",
            fix="give a pretrained model zip in models.lesion.pretrained, mark subjects "
            "with a lesion_mask as split = train, or name classic methods in classic.use",
        )
    silver = (
        f"STAPLE consensus of {', '.join(classic_methods)}"
        if len(classic_methods) > 1
        else f"{classic_methods[0]}'s masks"
    )
    return LesionModelSource(
        "annotation_free",
        f"lesion model: trained annotation-free on the silver masks ({silver}, "
        f"classic.silver) of every subject, because {experts} and "
        f"nnunet.folds = {folds} needs {folds} (models.lesion.training_mode: auto; mark "
        "subjects with expert masks as split = train to train on those)",
    )


@dataclass(frozen=True)
class RegionModelPlan:
    """Whether the region model runs, the subjects it learns from and those that score it.

    ``training`` is empty when the model is pretrained or not used; ``evaluated`` are
    the subjects with a reference region map that it did not learn from.
    """

    used: bool
    training: tuple[str, ...]
    evaluated: tuple[str, ...]
    reason: str


def region_model_plan(
    *,
    splits: Mapping[str, str],
    with_reference: Sequence[str],
    loads_regions: str,
    pretrained: str,
    folds: int,
) -> RegionModelPlan:
    """Plan the region model.

    ``splits`` maps every visit to its split ('' when not given), ``with_reference`` are
    the visits with a reference region map (given maps, or the demo's truth).
    Training subjects: the split = train visits when there are at least ``folds`` of
    them, else every visit; evaluated: reference visits outside the training subjects.

    >>> p = region_model_plan(splits={"a": "", "b": ""}, with_reference=[],
    ...                       loads_regions="atlas", pretrained="", folds=2)
    >>> p.used, p.training
    (False, ())
    >>> p = region_model_plan(splits={"a": "train", "b": "train", "c": "test"},
    ...                       with_reference=["a", "c"], loads_regions="atlas",
    ...                       pretrained="", folds=2)
    >>> p.used, p.training, p.evaluated
    (True, ('a', 'b'), ('c',))
    """
    train = [s for s, split in splits.items() if split == "train"]
    candidates = train if len(train) >= folds else list(splits)
    learns = () if pretrained else tuple(candidates)
    evaluated = tuple(s for s in with_reference if s not in learns)
    uses = []
    if loads_regions == "model":
        uses.append("the loads use it (loads.regions: model)")
    if evaluated:
        uses.append(f"{len(evaluated)} held-out subject(s) have a reference region map")
    if not uses:
        return RegionModelPlan(
            False,
            (),
            (),
            "region model: not used (loads.regions: atlas and no held-out subject has a "
            "region map), so neither trained nor run",
        )
    source = (
        f"the pretrained zip {pretrained}"
        if pretrained
        else f"trained on {len(learns)} subjects"
        + (" (split = train)" if learns == tuple(train) and train else " (every subject)")
    )
    return RegionModelPlan(True, learns, evaluated, f"region model: {source}; {'; '.join(uses)}")
