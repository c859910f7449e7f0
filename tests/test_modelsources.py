"""Which models a run trains, from what and on whom (wmhmap.modelsources)."""

from __future__ import annotations

import pytest

from wmhmap.errors import InputError
from wmhmap.modelsources import lesion_model_source, region_model_plan

CLASSIC = ["flairz", "flairpct", "t1z"]


def source(**kw):
    args = {
        "training_mode": "auto",
        "pretrained": "",
        "n_expert": 0,
        "folds": 5,
        "classic_methods": CLASSIC,
    }
    return lesion_model_source(**{**args, **kw})


@pytest.mark.parametrize(
    ("kw", "mode", "says"),
    [
        ({"n_expert": 5}, "gold", "trained on expert masks: 5 training subjects"),
        ({"n_expert": 4}, "annotation_free", "annotation-free on the silver masks"),
        ({"n_expert": 0, "folds": 2}, "annotation_free", "0 training subjects"),
        ({"n_expert": 1, "folds": 2}, "annotation_free", "1 training subject (split = train) has"),
        ({"n_expert": 9, "training_mode": "staged"}, "staged", "training_mode: staged"),
        ({"n_expert": 0, "training_mode": "gold"}, "gold", "training_mode: gold"),
        ({"pretrained": "m.zip", "n_expert": 9}, None, "the pretrained zip m.zip"),
    ],
)
def test_the_lesion_model_source_and_its_reason(kw, mode, says):
    got = source(**kw)
    assert got.training_mode == mode
    assert got.pretrained == (mode is None)
    assert says in got.reason and got.reason.startswith("lesion model: ")


def test_auto_names_the_classic_methods_it_learns_from():
    reason = source(n_expert=0, classic_methods=["flairz", "t1z"]).reason
    assert "STAPLE consensus of flairz, t1z" in reason
    assert "nnunet.folds = 5 needs 5" in reason
    assert "(flairhyst's masks, classic.silver)" in source(classic_methods=["flairhyst"]).reason


def test_no_source_at_all_is_refused_with_every_way_out():
    with pytest.raises(InputError) as caught:
        source(n_expert=2, classic_methods=[])
    err = caught.value
    assert "the lesion model has no source" in err.problem
    assert "2 training subjects" in err.problem
    for way in ("models.lesion.pretrained", "split = train", "classic.use"):
        assert way in err.fix


def test_an_unknown_training_mode_is_refused():
    with pytest.raises(InputError, match="training_mode is 'silver'"):
        source(training_mode="silver")


SPLITS = {"a": "train", "b": "train", "c": "test", "d": "", "e": ""}


def plan(**kw):
    args = {
        "splits": SPLITS,
        "with_reference": [],
        "loads_regions": "atlas",
        "pretrained": "",
        "folds": 2,
    }
    return region_model_plan(**{**args, **kw})


def test_the_region_model_is_not_used_by_the_atlas_loads_alone():
    got = plan()
    assert (got.used, got.training, got.evaluated) == (False, (), ())
    assert "not used" in got.reason


def test_the_region_model_learns_from_train_subjects_when_there_are_enough():
    got = plan(loads_regions="model")
    assert got.used and got.training == ("a", "b") and got.evaluated == ()
    assert "(split = train)" in got.reason and "loads.regions: model" in got.reason


def test_the_region_model_learns_from_every_subject_when_few_are_marked():
    got = plan(loads_regions="model", folds=3)
    assert got.training == ("a", "b", "c", "d", "e")
    assert "(every subject)" in got.reason


def test_held_out_region_maps_make_the_region_model_run_and_are_scored():
    got = plan(with_reference=["a", "c", "e"])
    assert got.used and got.training == ("a", "b")
    assert got.evaluated == ("c", "e")  # a trained on its map: not scored
    assert "2 held-out subject(s) have a reference region map" in got.reason


def test_maps_of_training_subjects_only_do_not_make_it_run():
    # every subject learns (too few marked train): no map is held out, loads use the atlas
    assert not plan(with_reference=["a", "c"], folds=3).used


def test_a_pretrained_region_model_trains_on_nobody_and_scores_every_map():
    got = plan(with_reference=["a", "c"], pretrained="r.zip")
    assert got.used and got.training == () and got.evaluated == ("a", "c")
    assert "the pretrained zip r.zip" in got.reason
