"""The conda environments pin exactly what pyproject.toml allows."""

import pytest
import tomllib
import yaml
from conftest import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ENVS = sorted((REPO / "workflow/envs").glob("*.yaml"))


def project_requirements():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in meta["dependencies"]}


def env_pins(path):
    env = yaml.safe_load(path.read_text())
    pins = {}
    for dep in env["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            name, _, version = entry.replace("==", "=").partition("=")
            pins[canonicalize_name(name)] = version
    return pins


def test_there_is_one_env_per_tool_family():
    assert {p.stem for p in ENVS} >= {"imaging"}


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.stem)
def test_env_pins_are_exact_and_satisfy_pyproject(env):
    requirements = project_requirements()
    pins = env_pins(env)
    assert pins.get("python", "").startswith("3.11")
    for name, version in pins.items():
        assert version, f"{env.name}: {name} is not pinned"
        if name in requirements:
            assert requirements[name].specifier.contains(version), (
                f"{env.name}: {name}=={version} outside {requirements[name]}"
            )
