"""Time nnU-Net inference per subject: nnU-Net's one patch per pass against batches.

Run: ``.venv/bin/python benchmarks/bench_inference.py [--results results] [--subjects 5]``
(after a demo run, or any run with trained models; ``--device cuda`` on a GPU).

For each trained model of the run (``<results>/nnunet/models/Dataset*/<trainer>/``)
it predicts a few subjects from FLAIR and from T1w with every fold, as the
segmentation jobs do, once one patch per network pass (``batch_size=1``, as nnU-Net's
own sliding window) and once batched, and prints the median seconds per subject, their ratio and
the largest difference in probability between the two. Model loading and the job's
start are not included (about 4 s per job on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--subjects", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import nibabel as nib
    import numpy as np
    import torch

    from wmhmap.nnunet.inference import load_model, predict_probabilities

    torch.set_num_threads(args.threads)
    scans = sorted(args.results.glob("sub-*/anat/*_space-FLAIR_desc-preproc_FLAIR.nii.gz"))
    scans = scans[: args.subjects]
    if not scans:
        raise SystemExit(f"no preprocessed scans under {args.results}: run the demo first")
    print(f"{len(scans)} subjects, FLAIR + T1w, device {args.device}, {args.threads} threads")
    header = ("model", "folds", "one patch s", "batched s", "ratio", "max |dp|")
    widths = (-24, 6, 13, 11, 7, 10)
    print(
        "".join(f"{h:{'<' if w < 0 else '>'}{abs(w)}}" for h, w in zip(header, widths, strict=True))
    )
    for model_dir in sorted(args.results.glob("nnunet/models/Dataset*/*__*__*")):
        timings: dict[str, list[float]] = {"one": [], "batched": []}
        largest = 0.0
        models = {
            "one": load_model(model_dir, device=args.device, batch_size=1),
            "batched": load_model(model_dir, device=args.device),
        }
        for flair in scans:
            images = [nib.load(flair), nib.load(str(flair).replace("_FLAIR.nii", "_T1w.nii"))]
            outputs = {}
            for name, model in models.items():
                start = time.perf_counter()
                outputs[name] = [predict_probabilities(model, [image]) for image in images]
                timings[name].append(time.perf_counter() - start)
            for one, batched in zip(outputs["one"], outputs["batched"], strict=True):
                largest = max(largest, float(np.abs(one - batched).max()))
        one, batched = (statistics.median(timings[k]) for k in ("one", "batched"))
        name = model_dir.parent.name
        folds = len(models["one"].folds)
        ratio = one / batched
        print(f"{name:<24}{folds:>6}{one:>13.1f}{batched:>11.1f}{ratio:>7.2f}{largest:>10.1e}")


if __name__ == "__main__":
    main()
