"""Seconds and peak memory of every non-deep-learning step for one subject at 1 mm.

Each step runs in a fresh Python process, as a Snakemake job does (imports included),
with 2 threads; the script prints the median over ``--runs`` repetitions per step and
the total against the issue's goal (all steps of one subject <= 45 s on 2 cores).

    .venv/bin/python benchmarks/bench_preprocess.py [--runs 3] [--voxel 1.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = {
    "validate_subject_inputs": """
from wmhmap.validation import validate_subject
validate_subject({"subject": "bench", "flair": f"{d}/flair.nii.gz", "t1": f"{d}/t1.nii.gz", "lesion_mask": f"{d}/mask.nii.gz"})
""",
    "correct_bias_n4 (T1w)": """
from wmhmap.imageio import load_image, save_image
from wmhmap.preprocess import prepare_scan
scan = prepare_scan(load_image(f"{d}/t1.nii.gz"))
save_image(scan.image, f"{d}/t1_n4.nii.gz"); save_image(scan.brain, f"{d}/t1_brain.nii.gz")
""",
    "correct_bias_n4 (FLAIR)": """
from wmhmap.imageio import load_image, save_image
from wmhmap.preprocess import prepare_scan
scan = prepare_scan(load_image(f"{d}/flair.nii.gz"))
save_image(scan.image, f"{d}/flair_n4.nii.gz"); save_image(scan.brain, f"{d}/brain.nii.gz")
""",
    "register_t1w_to_flair": """
import nibabel as nib
from wmhmap.preprocess import register_linear
register_linear(nib.load(f"{d}/flair_n4.nii.gz"), nib.load(f"{d}/t1_n4.nii.gz"), kind="Rigid").write(f"{d}/rigid.mat")
""",
    "propagate_atlas_labels": """
import nibabel as nib
from wmhmap.atlas import Atlas, propagate_atlas
from wmhmap.imageio import save_image
from wmhmap.preprocess import LinearTransform
atlas = Atlas(*(nib.load(f"{d}/atlas_{k}.nii.gz") for k in ("t1", "labels", "brain", "wm")))
r = propagate_atlas(atlas, nib.load(f"{d}/t1_n4.nii.gz"), nib.load(f"{d}/flair_n4.nii.gz"), nib.load(f"{d}/t1_brain.nii.gz"), LinearTransform.read(f"{d}/rigid.mat"))
save_image(r.labels, f"{d}/dseg.nii.gz")
""",
    "normalize_intensity (T1w)": """
import nibabel as nib, numpy as np
from wmhmap.imageio import save_image
from wmhmap.preprocess import LinearTransform, apply_linear, dilate_mask, normalize_percentiles
ref, brain = nib.load(f"{d}/flair_n4.nii.gz"), nib.load(f"{d}/brain.nii.gz")
img = apply_linear(nib.load(f"{d}/t1_n4.nii.gz"), ref, [LinearTransform.read(f"{d}/rigid.mat")])
save_image(normalize_percentiles(img, dilate_mask(np.asarray(brain.dataobj) > 0, brain, 3)), f"{d}/t1_pre.nii.gz")
""",
    "normalize_intensity (FLAIR)": """
import nibabel as nib, numpy as np
from wmhmap.imageio import save_image
from wmhmap.preprocess import dilate_mask, normalize_percentiles
img, brain = nib.load(f"{d}/flair_n4.nii.gz"), nib.load(f"{d}/brain.nii.gz")
save_image(normalize_percentiles(img, dilate_mask(np.asarray(brain.dataobj) > 0, brain, 3)), f"{d}/flair_pre.nii.gz")
""",
}


def prepare(folder: Path, voxel: float) -> None:
    """A demo subject at ``voxel`` mm (T1w isotropic, FLAIR 3x thicker slices) + atlas."""
    import nibabel as nib
    import numpy as np

    from wmhmap.demo.anatomy import load_template
    from wmhmap.demo.atlas import parcellate_white_matter, tissue_classes
    from wmhmap.demo.simulate import SubjectSpec, scanner_profiles, simulate_subject

    template = load_template()
    labels = parcellate_white_matter(template)
    profile = scanner_profiles((voxel,) * 3, (voxel, voxel, 3 * voxel), 2)["siteB"]
    subject = simulate_subject(
        template, labels, SubjectSpec("bench", "AD", "siteB", 75.0, 1234), profile
    )
    nib.save(subject.t1, folder / "t1.nii.gz")
    nib.save(subject.flair, folder / "flair.nii.gz")
    nib.save(subject.lesion_mask, folder / "mask.nii.gz")
    nib.save(template.image(template.t1), folder / "atlas_t1.nii.gz")
    nib.save(template.image(labels, np.uint8), folder / "atlas_labels.nii.gz")
    nib.save(template.image(template.brain, np.uint8), folder / "atlas_brain.nii.gz")
    nib.save(template.image(tissue_classes(template) == 3, np.uint8), folder / "atlas_wm.nii.gz")
    print(f"subject: T1w {subject.t1.shape} at {voxel} mm, FLAIR {subject.flair.shape}")


def run_step(code: str, folder: Path, threads: int) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one fresh-process run."""
    env = {**os.environ}
    for var in ("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    program = f"d = {str(folder)!r}\n{code}"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", program], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"step failed with status {status}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--voxel", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prepare-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_into:
        prepare(args.prepare_into, args.voxel)
        return
    with tempfile.TemporaryDirectory(prefix="wmhmap-bench-") as tmp:
        folder = Path(tmp)
        # in a child process: a parent holding the template (1.1 GB) would count in
        # every step's peak memory (its pages are part of each fork)
        subprocess.run(
            [sys.executable, __file__, "--voxel", str(args.voxel), "--prepare-into", tmp],
            check=True,
        )
        total = 0.0
        print(
            f"{'step':30s} {'median s':>9s} {'min s':>7s} {'peak MB':>8s}   ({args.runs} runs, {args.threads} threads)"
        )
        for name, code in STEPS.items():
            runs = [run_step(code, folder, args.threads) for _ in range(args.runs)]
            seconds = [r[0] for r in runs]
            median = statistics.median(seconds)
            total += median
            print(f"{name:30s} {median:9.1f} {min(seconds):7.1f} {max(r[1] for r in runs):8.0f}")
        goal = 45.0
        print(
            f"{'total (one subject)':30s} {total:9.1f}   goal <= {goal:.0f} s: ratio {total / goal:.2f} ({'met' if total <= goal else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
