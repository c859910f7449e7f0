"""Time BIDS discovery (and the sample-sheet checks after it) on large datasets.

Run: ``.venv/bin/python benchmarks/bench_bids_discovery.py [--sizes 500 5000] [--runs 5]``

Writes a BIDS tree of N subjects x 2 sessions (FLAIR + T1w + JSON sidecars as empty
files, a DWI folder per visit that discovery must skip, participants.tsv and a
sessions.tsv per subject), then times :func:`wmhmap.bidsdataset.discover` followed by
:func:`wmhmap.samplesheet.validate_samplesheet` (which checks every path exists), as
the workflow does at start. Goal: 5,000 subjects within seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from wmhmap.bidsdataset import BidsSelection, discover
from wmhmap.samplesheet import validate_samplesheet

SECONDS_GOAL = 5.0


def write_dataset(root: Path, n: int) -> None:
    (root / "dataset_description.json").write_text('{"Name": "bench", "BIDSVersion": "1.9.0"}')
    participants = ["participant_id\tgroup\tage\tsex\tsite"]
    for i in range(n):
        sub = f"{i:05d}"
        participants.append(f"sub-{sub}\t{('CN', 'MCI', 'AD')[i % 3]}\t70\tF\tsite{i % 4}")
        sessions = ["session_id\tage"]
        for ses in ("1", "2"):
            anat = root / f"sub-{sub}" / f"ses-{ses}" / "anat"
            anat.mkdir(parents=True)
            for suffix in ("FLAIR.nii.gz", "FLAIR.json", "T1w.nii.gz", "T1w.json"):
                (anat / f"sub-{sub}_ses-{ses}_{suffix}").touch()
            dwi = anat.parent / "dwi"
            dwi.mkdir()
            (dwi / f"sub-{sub}_ses-{ses}_dwi.nii.gz").touch()
            sessions.append(f"ses-{ses}\t{70 + int(ses)}")
        (root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv").write_text("\n".join(sessions) + "\n")
    (root / "participants.tsv").write_text("\n".join(participants) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    selection = BidsSelection(columns={"diagnosis": "group"})
    medians = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_dataset(root, n)
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                samples = validate_samplesheet(
                    discover(root, selection), file=root / "participants.tsv"
                )
                times.append(time.perf_counter() - start)
            assert len(samples) == 2 * n, len(samples)
            medians[n] = statistics.median(times)
            print(
                f"{n:>6} subjects ({2 * n} visits): median {medians[n]:.2f} s over "
                f"{args.runs} runs (min {min(times):.2f}, max {max(times):.2f})"
            )
    largest = max(medians)
    print(
        f"goal <= {SECONDS_GOAL:.0f} s at {largest} subjects: {medians[largest]:.2f} s, "
        f"ratio {medians[largest] / SECONDS_GOAL:.2f}"
    )
    if len(medians) > 1:
        smallest = min(medians)
        print(
            f"time per subject: {1000 * medians[smallest] / smallest:.2f} ms at {smallest}, "
            f"{1000 * medians[largest] / largest:.2f} ms at {largest}"
        )


if __name__ == "__main__":
    main()
