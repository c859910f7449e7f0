#!/usr/bin/env python3
"""Compare two results folders byte for byte: every table (.tsv) and image (.nii.gz).

python tools/compare_results.py RESULTS_A RESULTS_B

How a refactoring is shown to change no result: run the demo twice from two
checkouts with ``registration.reproducible: true`` and ``nnunet.seed: 0``
(docs/reproducibility.md), then compare. Each run's own folder name is replaced in the
tables before comparing (the demo's sample sheet holds absolute paths); logs and
benchmarks are left out. Exit status 1 when anything differs.
"""

from __future__ import annotations

import sys
from pathlib import Path


def files(root: Path, pattern: str) -> set[Path]:
    skip = {"logs", "benchmarks"}
    return {p.relative_to(root) for p in root.rglob(pattern) if not skip & set(p.parts)}


def main() -> int:
    a, b = (Path(arg).resolve() for arg in sys.argv[1:3])
    differ = 0
    for pattern in ("*.tsv", "*.nii.gz"):
        left, right = files(a, pattern), files(b, pattern)
        same = 0
        for rel in sorted(left & right):
            x = (a / rel).read_bytes().replace(str(a).encode(), b"RESULTS")
            y = (b / rel).read_bytes().replace(str(b).encode(), b"RESULTS")
            if x == y:
                same += 1
            else:
                print(f"differs: {rel}")
        only = sorted(left ^ right)
        differ += len(left & right) - same + len(only)
        counts = f"{len(left)} vs {len(right)} files, {same} identical"
        print(f"{pattern}: {counts}, {len(only)} in one only")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
