import copy

import jsonschema
import pytest
import yaml
from conftest import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def with_defaults(instance):
    """Validate like snakemake.utils.validate(set_default=True)."""
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, inst, schema):
        for prop, sub in properties.items():
            if "default" in sub and isinstance(inst, dict):
                inst.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, inst, schema)

    validator = jsonschema.validators.extend(base, {"properties": set_defaults})
    validator(SCHEMA).validate(instance)
    return instance


def load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


def merged(base, over):
    """``over`` on ``base`` key by key, as snakemake's --configfile merges."""
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if both else value
    return out


def test_shipped_configs_are_valid():
    with_defaults(load("config.yaml"))
    tests = with_defaults(merged(load("config.yaml"), load("tests.yaml")))
    # the tests' 3-D patches replace the demo's 2-D ones for every model
    for model in ("lesion", "region"):
        patch = tests["models"][model]["training"].get("plans_overrides", {}).get("patch_size")
        assert patch is None or len(patch) == 3


def test_the_real_scan_recipe_only_trains_longer_finer_and_mirrors_at_test_time():
    """config/real_cpu.yaml (the CPU recipe measured on real scans) merges into the
    config and changes the epochs of both models, the region model's grid (2 mm, one
    more stage, a patch that still holds the slice) and test-time mirroring, nothing
    else: the trainers and the lesion network stay the config's."""
    base = with_defaults(load("config.yaml"))
    real = with_defaults(merged(load("config.yaml"), load("real_cpu.yaml")))
    assert real["nnunet"]["tta"] is True
    assert real["models"]["lesion"]["training"]["epochs"] == 240
    region = real["models"]["region"]["training"]
    assert region["epochs"] == 64
    assert region["plans_overrides"] == {
        **base["models"]["region"]["training"]["plans_overrides"],
        "spacing": [2.0, 2.0],
        "n_stages": 5,
        "patch_size": [96, 80],
    }
    for cfg in (base, real):
        cfg["nnunet"].pop("tta")
        for model in ("lesion", "region"):
            cfg["models"][model]["training"].pop("epochs")
        cfg["models"]["region"]["training"].pop("plans_overrides")
    assert real == base


def test_defaults_fill_an_empty_config():
    cfg = with_defaults({})
    assert cfg["samplesheet"] == ""
    assert cfg["preprocess"]["rigid"]["shrink_mm"] == [8, 4, 2]
    assert cfg["registration"]["affine"]["sampling_rate"] == 0.15
    assert cfg["demo"]["lesions"]["signal_regions"] == [1, 7, 11, 22, 29, 33]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"samplesheets": "x.tsv"}, "Additional properties"),
        ({"atlas": {"source": "mni"}}, "is not one of"),
        ({"preprocess": {"n4": {"shrink_mm": 0}}}, "less than the minimum"),
        ({"demo": {"t1_voxel_mm": [1, 1]}}, "too short"),
        ({"registration": {"wm_restricted": "yes"}}, "is not of type 'boolean'"),
    ],
)
def test_malformed_configs_are_refused(patch, message):
    with pytest.raises(jsonschema.ValidationError, match=message):
        with_defaults(patch)
