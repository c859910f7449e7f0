"""The execution profiles: what a cluster user edits, and what the rules leave to them."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import REPO, planned_rules, snakemake

PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
GPU_RULES = {"train_nnunet_fold", "segment_subject"}


def slurm_profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


def test_rules_name_no_partition_account_or_machine():
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        text = path.read_text()
        for word in ("slurm_partition", "slurm_account", "mem_mb", "runtime", "cpus_per"):
            assert word not in text, f"{path.name} sets {word}: that belongs in a profile"


def test_slurm_profile_retries_with_more_memory():
    profile = slurm_profile()
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    memory = [profile["default-resources"]["mem_mb"]]
    memory += [r["mem_mb"] for r in profile["set-resources"].values() if "mem_mb" in r]
    assert memory and all(re.fullmatch(r"\d+ \* attempt", str(m)) for m in memory)
    assert {"train_nnunet_fold", "segment_subject", "plan_nnunet"} <= set(profile["set-resources"])
    assert "slurm_partition" not in profile["default-resources"]  # commented: the user's


def test_slurm_groups_name_real_rules():
    rules = set()
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        rules |= set(re.findall(r"^rule (\w+):", path.read_text(), re.MULTILINE))
    groups = dict(entry.split("=") for entry in slurm_profile()["groups"])
    assert set(groups) <= rules
    assert set(groups.values()) == {"preprocess", "segment", "overlays", "visits"}
    # every group is bundled explicitly
    bundled = dict(entry.split("=") for entry in slurm_profile()["group-components"])
    assert set(bundled) == set(groups.values())
    assert {"correct_bias_n4", "segment_subject"} <= set(groups)


def job_resources(log: str) -> dict[str, set[str]]:
    """rule -> the resources lines of its jobs in a dry run."""
    found: dict[str, set[str]] = {}
    for rule, res in re.findall(r"^\s*rule (\w+):\n(?:\s+\w+:.*\n)*?\s+resources: (.*)", log, re.M):
        found.setdefault(rule, set()).add(res)
    return found


@pytest.mark.workflow
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_gpu_requests_follow_the_configured_device(device, tmp_path):
    overlay = tmp_path / "device.yaml"
    overlay.write_text(yaml.safe_dump({"nnunet": {"device": device}}))
    dry = snakemake(
        "-n", "--workflow-profile", str(PROFILE.parent),
        "--configfile", "config/tests.yaml", str(overlay),
        "--config", f"results={tmp_path / 'results'}",
        timeout=300,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-3000:]
    log = dry.stdout + dry.stderr
    resources = job_resources(log)
    assert GPU_RULES <= planned_rules(dry) and set(resources) == planned_rules(dry)
    for rule, lines in resources.items():
        gpus = {m for line in lines for m in re.findall(r"\bgpu=(\d+)", line)}
        if rule in GPU_RULES:
            assert gpus == ({"1"} if device == "cuda" else {"0"}), rule
            assert all("cpus_per_gpu=" in line for line in lines), rule
        else:
            assert gpus <= {"0"}, rule
