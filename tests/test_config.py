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


def test_shipped_configs_are_valid():
    with_defaults(load("config.yaml"))
    merged = load("config.yaml")
    merged.update({k: v for k, v in load("tests.yaml").items() if k != "demo"})
    merged["demo"].update(load("tests.yaml")["demo"])
    with_defaults(merged)


def test_defaults_fill_an_empty_config():
    cfg = with_defaults({})
    assert cfg["samplesheet"] == ""
    assert cfg["preprocess"]["rigid"]["shrink_factors"] == [8, 4, 2]
    assert cfg["registration"]["affine"]["sampling_rate"] == 0.15
    assert cfg["demo"]["lesions"]["signal_regions"] == [1, 7, 11, 22, 29, 33]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"samplesheets": "x.tsv"}, "Additional properties"),
        ({"atlas": {"source": "mni"}}, "is not one of"),
        ({"preprocess": {"n4": {"shrink_factor": 0}}}, "less than the minimum"),
        ({"demo": {"t1_voxel_mm": [1, 1]}}, "too short"),
        ({"registration": {"wm_restricted": "yes"}}, "is not of type 'boolean'"),
    ],
)
def test_malformed_configs_are_refused(patch, message):
    with pytest.raises(jsonschema.ValidationError, match=message):
        with_defaults(patch)
