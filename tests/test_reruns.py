"""A config or library change reruns what depends on it, and nothing else.

Snakemake reruns a job when a param changes, so each rule gets only the values its
output depends on (never a whole config section), and a ``code`` param hashing the
wmhmap code its script runs (wmhmap.codeversion). The table below changes one thing
at a time on a finished run of the tests config and checks the rules a dry run plans.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import REPO, snakemake

from wmhmap.codeversion import dependencies, script_version

LOADS = {
    "compute_regional_loads",
    "collect_regional_loads",
    "calibrate_load_intervals",
    "collect_loads_long",
    "collect_zone_loads",
    "plot_zone_loads",
    "plot_subject_overlay",  # its bars: the largest loads with their intervals
}
# the frequency maps are drawn per cluster too
STATISTICS = {"validate_volumes", "classify_diagnoses", "cluster_regional_loads"}
STATISTICS |= {"map_lesion_frequency"}
# The brain volumes, measured on the T1w with its WMH mask filled (stats.fill_lesions).
BRAIN_VOLUMES = {"measure_brain_volumes", "collect_brain_volumes"}
# The jobs that read the segmentations (directly or through the loads tables).
AFTER_SEGMENTATION = (
    {"segment_subject", "plot_high_load_panel"}
    | BRAIN_VOLUMES
    | {"evaluate_wmh_segmentation", "evaluate_region_segmentation", "summarize_evaluation"}
    | LOADS
    | STATISTICS
)
TRAINING = {
    "write_nnunet_dataset",
    "plan_nnunet",
    "train_nnunet_fold",
    "record_trained_model",
    "export_nnunet_model",
}
# What comes before the models: never redone by a change after it.
UPSTREAM = {
    "build_demo_atlas",
    "simulate_demo_subject",
    "validate_subject_inputs",
    "correct_bias_n4",
    "register_t1w_to_flair",
    "normalize_intensity",
    "propagate_atlas_labels",
    "map_zones",
    "prepare_reference_mask",
}


def planned(dry: subprocess.CompletedProcess[str]) -> set[str]:
    """Rules of the jobs a dry run plans, local rules included, the target rule not."""
    text = dry.stdout + dry.stderr
    rules = set(re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):", text, re.MULTILINE))
    return rules - {"all"}


def dry_run(results: Path, tmp_path: Path, overlay: dict, env=None) -> set[str]:
    config = tmp_path / "overlay.yaml"
    config.write_text(yaml.safe_dump(overlay))
    args = ("--configfile", "config/tests.yaml", str(config), "--config", f"results={results}")
    dry = snakemake(*args, "-n", env=env, timeout=600)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    return planned(dry)


RERUNS = [
    # (what changes, config overlay, rules planned)
    ("nothing", {}, set()),
    ("a QC threshold", {"qc": {"min_correlation": 0.2}}, {"collect_registration_qc"}),
    ("the field-of-view edge flag", {"qc": {"max_fov_edge_mm2": 500}}, {"collect_registration_qc"}),
    ("the white-matter share flag", {"qc": {"wm_share": [0.3, 0.5]}}, {"collect_registration_qc"}),
    ("the T1w-FLAIR fit flag", {"qc": {"min_t1w_flair_dice": 0.9}}, {"collect_registration_qc"}),
    (
        "the T1w-FLAIR CSF flag",
        {"qc": {"min_t1w_flair_csf_dice": 0.5}},
        {"collect_registration_qc"},
    ),
    (
        "the visits' CSF flag",
        {"qc": {"min_visit_csf_dice": 0.6}},
        {"collect_registration_qc"},
    ),
    (
        "the contrast flags",
        {
            "qc": {
                "min_t1w_wm_gm_ratio": 1.2,
                "max_flair_wm_gm_ratio": 1.0,
                "max_bright_wm_ratio": 1.3,
            }
        },
        {"collect_registration_qc"},
    ),
    (
        "the number of clusters (and the per-cluster frequency maps)",
        {"stats": {"cluster_k": 2}},
        {"cluster_regional_loads", "map_lesion_frequency"},
    ),
    ("AUC bootstrap resamples", {"stats": {"bootstrap": 100}}, {"classify_diagnoses"}),
    (
        "lesion filling in the brain volumes (and the classification of them)",
        {"stats": {"fill_lesions": False}},
        BRAIN_VOLUMES | {"classify_diagnoses"},
    ),
    ("the Bland-Altman offset", {"stats": {"log_offset_ml": 0.2}}, {"validate_volumes"}),
    ("compiling the network", {"nnunet": {"compile": True}}, set()),
    (
        "the uncertainty flag",
        {"loads": {"uncertain_spread": 1.0}},
        LOADS | STATISTICS | {"plot_high_load_panel"},
    ),
    (
        "the intervals' coverage (calibration, long table and the figures that draw them)",
        {"loads": {"interval_coverage": 0.9}},
        {
            "calibrate_load_intervals",
            "collect_loads_long",
            "plot_subject_overlay",
            "plot_high_load_panel",
        },
    ),
    (
        "the continuity rule (loads only)",
        {"zones": {"pvdeep": {"continuity": True}}},
        LOADS | STATISTICS | {"plot_high_load_panel"},
    ),
    (
        "the ventricle bands (zone maps, not the models)",
        {"zones": {"pvdeep": {"bands_mm": [3, 13]}}},
        {"map_zones"} | LOADS | STATISTICS | {"plot_high_load_panel"},
    ),
    ("test-time mirroring", {"nnunet": {"tta": True}}, AFTER_SEGMENTATION),
    ("the inference device", {"nnunet": {"device": "auto"}}, AFTER_SEGMENTATION),
    (
        "the demo's training subjects",
        {"demo": {"n_train": 3}},
        # and the classic masks of the subject no longer training (scored when held out)
        {"write_demo_samplesheet", "segment_wmh_classic", "staple_wmh_masks"}
        | TRAINING
        | AFTER_SEGMENTATION,
    ),
    (
        "the smallest classic lesion",
        {"classic": {"min_lesion_mm3": 30}},
        {"segment_wmh_classic", "staple_wmh_masks", "evaluate_wmh_segmentation"}
        | {"summarize_evaluation"},
    ),
    (
        "the silver mask's methods (the consensus and its scores, not the bronze masks)",
        {"classic": {"silver": []}},
        {"staple_wmh_masks", "evaluate_wmh_segmentation", "summarize_evaluation"},
    ),
]


@pytest.mark.parametrize(
    ("change", "overlay", "expected"), RERUNS, ids=[change for change, _, _ in RERUNS]
)
def test_a_config_change_reruns_exactly_what_depends_on_it(
    results, tmp_path, change, overlay, expected
):
    assert dry_run(results, tmp_path, overlay) == expected, change


def test_a_library_change_reruns_the_jobs_it_feeds_and_nothing_upstream(results, tmp_path):
    """A changed function in wmhmap/loads.py plans the loads jobs and what reads them;
    a changed docstring plans nothing. A changed nnU-Net trainer (a file wmhmap loads by
    path, not by import) retrains the models and reruns what reads them."""
    package = Path(sys.modules["wmhmap"].__file__).parent
    added = "\n\ndef _added_helper():\n    return 1\n"
    runs = {}
    for name, file, edit in (
        ("docstring", "loads.py", lambda text: text.replace('"""', '"""Reworded. ', 1)),
        ("function", "loads.py", lambda text: text + added),
        ("trainer", "nnunet/trainers/wmhmap_trainers.py", lambda text: text + added),
    ):
        copy = tmp_path / name
        shutil.copytree(package, copy / "wmhmap", ignore=shutil.ignore_patterns("__pycache__"))
        changed = copy / "wmhmap" / file
        changed.write_text(edit(changed.read_text()))
        env = {**os.environ, "PYTHONPATH": str(copy)}
        runs[name] = dry_run(results, tmp_path, {}, env=env)
    assert runs["docstring"] == set()
    assert LOADS <= runs["function"]
    assert not runs["function"] & (UPSTREAM | TRAINING | {"segment_subject"}), runs["function"]
    # the jobs that run no loads code and read no loads table stay
    assert not runs["function"] & {"collect_registration_qc", "segment_wmh_classic"}
    assert {"train_nnunet_fold", "segment_subject"} | LOADS <= runs["trainer"]
    assert not runs["trainer"] & (UPSTREAM | {"segment_wmh_classic"}), runs["trainer"]


def test_code_versions_follow_the_modules_a_script_imports(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("def main():\n    from wmhmap.loads import summarize_loads\n")
    assert "wmhmap.loads" in dependencies(script)
    before = script_version(script)
    script.write_text(
        '"""Doc."""\n# a comment\ndef main():\n    from wmhmap.loads import summarize_loads\n'
    )
    assert script_version(script) == before  # comments and docstrings change nothing
    script.write_text("def main():\n    from wmhmap.qc import QcThresholds\n")
    assert script_version(script) != before
    # every rule script's imports resolve to wmhmap modules
    for path in (REPO / "workflow" / "scripts").glob("*.py"):
        assert dependencies(path), path.name


WALK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import pandas as pd
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow = api.workflow(
            ResourceSettings(cores=1),
            ConfigSettings(configfiles=[Path("config/tests.yaml")]),
            snakefile=Path("Snakefile"),
            workdir=Path("."),
        )._workflow
        sections = {k: v for k, v in workflow.config.items() if isinstance(v, dict)}
        TRACKED = (type(None), int, float, bool, str, list, tuple, dict, set, pd.DataFrame)
        found = {}
        for rule in workflow.rules:
            names = dict(rule.params._allitems())
            for name, value in names.items():
                if name is None or callable(value):
                    continue
                same = lambda s: value is s or (isinstance(value, dict) and value == s)
                whole = [k for k, s in sections.items() if same(s)]
                # Snakemake compares only params it can represent (builtins, pandas);
                # any other object would never trigger a rerun
                if not isinstance(value, TRACKED):
                    whole.append(f"untracked {type(value).__name__}")
                found[f"{rule.name}.{name}"] = whole
        print(json.dumps(found))
    """
)


def rule_params_holding_sections() -> dict[str, list[str]]:
    """Every rule's static params, with the config sections each equals (and a note for
    a value Snakemake cannot track)."""
    done = subprocess.run(
        [sys.executable, "-c", WALK], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_rule_param_holds_a_whole_config_section():
    params = rule_params_holding_sections()
    assert "collect_registration_qc.min_correlation" in params  # the walk sees the rules
    assert "segment_subject.code" in params
    holding = {name: sections for name, sections in params.items() if sections}
    assert holding == {}
