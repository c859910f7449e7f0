"""Time ``snakemake -n`` on large cohorts and count the SLURM jobs per subject.

Run: ``.venv/bin/python benchmarks/bench_dag_scale.py [--sizes 500 5000] [--runs 3]``

Writes a sample sheet of N subjects (placeholder, empty image files: a dry run opens
none; 100 training subjects with expert masks, the rest to segment), then times a dry
run of the whole workflow with the SLURM profile. The job count per subject is what
sbatch would see, read from the dry run's plan: a group job counts once, a job outside
groups once, local rules never. Goals: <= 60 s at 5,000 subjects, <= 3 SLURM
jobs per subject outside training.

``--floor`` also times Snakemake alone on a Snakefile of trivial jobs of the same shape
(a chain of 12 jobs per subject): with shell commands and no groups, and with
``script:`` rules in two groups per subject, as the workflow's are.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
N_TRAIN = 100
SECONDS_GOAL = 60.0
JOBS_PER_SUBJECT_GOAL = 3.0


def local_rules() -> set[str]:
    """The Snakefile's localrules (run on the submitting host, never queued)."""
    text = (REPO / "Snakefile").read_text()
    block = re.search(r"^localrules:\n((?:    \w+,?\n)+)", text, re.MULTILINE)
    return set(re.findall(r"\w+", block.group(1))) if block else set()


def write_cohort(folder: Path, n: int) -> Path:
    """A sample sheet of n subjects with empty placeholder images under folder."""
    rows = ["subject\tflair\tt1\tdiagnosis\tsite\tage\tsex\treference_wmh_ml\tlesion_mask\tsplit"]
    diagnoses = ("CN", "MCI", "AD")
    for i in range(n):
        subject = f"s{i:05d}"
        anat = folder / f"sub-{subject}" / "anat"
        anat.mkdir(parents=True)
        files = {m: anat / f"sub-{subject}_{m}.nii.gz" for m in ("FLAIR", "T1w", "mask")}
        for f in files.values():
            f.touch()
        train = i < min(N_TRAIN, n // 5)
        rows.append(
            "\t".join(
                [
                    subject,
                    str(files["FLAIR"]),
                    str(files["T1w"]),
                    diagnoses[i % 3],
                    f"site{i % 4}",
                    str(60 + i % 30),
                    "MF"[i % 2],
                    f"{1 + i % 17 / 2:.2f}",
                    str(files["mask"]) if train else "",
                    "train" if train else "test",
                ]
            )
        )
    sheet = folder / "samplesheet.tsv"
    sheet.write_text("\n".join(rows) + "\n")
    return sheet


def dry_run(folder: Path, sheet: Path) -> tuple[float, str]:
    overlay = folder / "cohort.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "samplesheet": str(sheet),
                "dataset_root": str(folder),
                "results": str(folder / "results"),
            }
        )
    )
    cmd = [
        SNAKEMAKE,
        "-n",
        "--workflow-profile",
        "workflow/profiles/slurm",
        "--configfile",
        str(overlay),
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    return seconds, done.stdout + done.stderr


FLOOR_SNAKEFILE = """\
SUBJECTS = [f"s{{i:05d}}" for i in range({n})]
K = {k}


rule all:
    input:
        expand("out/{{s}}/step{{k}}.txt", s=SUBJECTS, k=K - 1),


rule first:
    output:
        "out/{{s}}/step0.txt",
    {action}


rule step:
    input:
        lambda w: f"out/{{w.s}}/step{{int(w.k) - 1}}.txt",
    output:
        "out/{{s}}/step{{k,[1-9][0-9]*}}.txt",
    {action}
"""


def floor_run(folder: Path, n: int, grouped: bool, k: int = 12) -> float:
    """Seconds of ``snakemake -n`` on a chain of k trivial jobs per subject."""
    if grouped:
        (folder / "touch.py").write_text("open(snakemake.output[0], 'w').close()\n")
        # the first half of a subject's chain in one group, the second in another
        action = (
            'group:\n        lambda w: "a" if int(w.get("k", 0)) < K // 2 else "b"\n'
            '    script:\n        "touch.py"'
        )
    else:
        action = 'shell:\n        "touch {output}"'
    snakefile = folder / ("Snakefile.grouped" if grouped else "Snakefile.plain")
    snakefile.write_text(FLOOR_SNAKEFILE.format(n=n, k=k, action=action))
    start = time.perf_counter()
    done = subprocess.run(
        [SNAKEMAKE, "-n", "-c1", "-s", str(snakefile), "-d", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return time.perf_counter() - start


def count_jobs(log: str, n: int) -> dict[str, float]:
    """SLURM submissions in a dry run's plan: group jobs, and rule jobs outside groups.

    Snakemake prints a group job as "Group job NAME" with its member jobs indented, an
    ordinary job as an unindented "rule NAME:" block, and local rules as "localrule".
    """
    group_jobs = len(re.findall(r"^\[[^\]\n]*\] Group job \w+", log, re.MULTILINE))
    local = local_rules()
    single = [
        (rule, body)
        for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n)*)", log, re.MULTILINE)
        if rule not in local
    ]
    per_subject = sum(1 for _, body in single if re.search(r"wildcards:.*\bsubject=", body))
    cohort = len(single) - per_subject
    return {
        "per_subject": (group_jobs + per_subject) / n,
        "cohort_jobs": cohort,
        "slurm_jobs": group_jobs + len(single),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--floor", action="store_true", help="also time Snakemake alone")
    args = parser.parse_args()
    header = ("subjects", "dry run s (median)", "SLURM jobs", "per subject", "cohort-level")
    print("  ".join(f"{h:>{w}}" for h, w in zip(header, (8, 18, 10, 11, 12), strict=True)))
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="wmhmap-scale-") as tmp:
            folder = Path(tmp)
            sheet = write_cohort(folder, n)
            timings, counts = [], {}
            for _ in range(args.runs):
                seconds, log = dry_run(folder, sheet)
                timings.append(seconds)
                counts = count_jobs(log, n)
        median = statistics.median(timings)
        print(
            f"{n:>8}  {median:>18.1f}  {counts['slurm_jobs']:>10.0f}  "
            f"{counts['per_subject']:>11.2f}  {counts['cohort_jobs']:>12.0f}"
        )
        if n >= 5000:
            print(f"          goal <= {SECONDS_GOAL:.0f} s: ratio {median / SECONDS_GOAL:.2f}")
    print(f"goal: <= {JOBS_PER_SUBJECT_GOAL:.0f} SLURM jobs per subject outside training")
    if args.floor:
        print("Snakemake alone, 12 trivial jobs per subject in a chain:")
        for n in args.sizes:
            with tempfile.TemporaryDirectory(prefix="wmhmap-floor-") as tmp:
                for grouped in (False, True):
                    runs = [floor_run(Path(tmp), n, grouped) for _ in range(args.runs)]
                    kind = "script: rules, two groups" if grouped else "shell, no groups"
                    print(f"{n:>8}  {statistics.median(runs):>18.1f}  ({kind})")


if __name__ == "__main__":
    main()
