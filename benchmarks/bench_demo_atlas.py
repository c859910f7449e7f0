"""Atlas region Dice on demo subjects at the demo config's resolution, both region maps.

Run: ``.venv/bin/python benchmarks/bench_demo_atlas.py [--subjects 6]``

Simulates the first subjects of a demo cohort (T1w 1.5 mm, FLAIR 1.5 x 1.5 x 3 mm, the
config's voxels), runs the workflow's steps (``prepare_scan`` on each scan, rigid
T1w -> FLAIR, ``propagate_atlas`` onto the FLAIR grid) with ``region_map``
``white_matter`` and ``parcels``, and prints each subject's mean Dice over the 34
regions against its true region map, then the mean and the worst of each.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=6)
    args = parser.parse_args()

    from wmhmap.atlas import Atlas, PropagationSettings, propagate_atlas
    from wmhmap.demo.anatomy import load_template
    from wmhmap.demo.atlas import parcellate_white_matter, tissue_classes
    from wmhmap.demo.cohort import CohortDesign, demo_cohort
    from wmhmap.demo.simulate import SubjectSpec, scanner_profiles, simulate_subject
    from wmhmap.geometry import reorient_to_ras
    from wmhmap.metrics import region_dice
    from wmhmap.preprocess import prepare_scan, register_linear
    from wmhmap.regions import load_region_table

    template = load_template()
    labels = parcellate_white_matter(template)
    atlas = Atlas(
        t1=template.image(template.t1),
        labels=template.image(labels, np.uint8),
        brain_mask=template.image(template.brain, np.uint8),
        white_matter=template.image(tissue_classes(template) == 3, np.uint8),
    )
    table = load_region_table()
    cohort = demo_cohort(CohortDesign(n_subjects=max(args.subjects, 3), n_train=1))
    profiles = scanner_profiles((1.5, 1.5, 1.5), (1.5, 1.5, 3.0), 3)
    scores: dict[str, list[float]] = {"white_matter": [], "parcels": []}
    for row in cohort.head(args.subjects).itertuples():
        spec = SubjectSpec(row.subject, row.diagnosis, row.site, float(row.age), int(row.seed))
        subject = simulate_subject(template, labels, spec, profiles[row.site])
        t1, flair = prepare_scan(subject.t1), prepare_scan(subject.flair)
        rigid = register_linear(flair.image, t1.image, kind="Rigid")
        truth = np.asarray(reorient_to_ras(subject.regions).dataobj)
        line = [f"{row.subject} {row.diagnosis}"]
        for region_map, values in scores.items():
            result = propagate_atlas(
                atlas,
                t1.image,
                flair.image,
                t1.brain,
                rigid,
                PropagationSettings(region_map=region_map),
            )
            dice = float(region_dice(np.asarray(result.labels.dataobj), truth, table).dice.mean())
            values.append(dice)
            line.append(f"{region_map} {dice:.3f}")
        print("  ".join(line), flush=True)
    for region_map, values in scores.items():
        print(f"{region_map}: mean {statistics.mean(values):.3f}, worst {min(values):.3f}")


if __name__ == "__main__":
    main()
