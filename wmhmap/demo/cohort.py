"""Who is in the demo cohort: ids, diagnoses, sites, ages, sexes and the train/test split.

The table is a pure function of the configuration (size, seed, split), so Snakemake
knows every subject when it parses the workflow; the images themselves are made by
rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DIAGNOSES = ("CN", "MCI", "AD")
AGE_BY_DIAGNOSIS = {"CN": (70.0, 6.0), "MCI": (73.0, 6.0), "AD": (75.0, 6.5)}
"""Mean and SD of age (years) by diagnosis, roughly as in ADNI."""


@dataclass(frozen=True)
class CohortDesign:
    """What the demo cohort looks like."""

    n_subjects: int = 36
    n_train: int = 12
    n_sites: int = 3
    seed: int = 42
    id_prefix: str = "demo"

    def __post_init__(self) -> None:
        if self.n_subjects < 3:
            raise ValueError("the demo cohort needs at least 3 subjects (one per diagnosis)")
        if not 0 <= self.n_train <= self.n_subjects:
            raise ValueError("n_train must lie between 0 and n_subjects")
        if not self.id_prefix.isalnum():
            raise ValueError("id_prefix must be letters and digits")


def site_name(index: int) -> str:
    """Site names ``siteA``, ``siteB``, ..."""
    return "site" + chr(ord("A") + index)


def demo_cohort(design: CohortDesign) -> pd.DataFrame:
    """The demo sample sheet without file columns.

    Diagnoses cycle CN, MCI, AD so every group has ``n_subjects / 3`` members, sites
    cycle independently, and the training split takes the same share of each
    diagnosis and site (stratified, seeded).

    Returns
    -------
    DataFrame with columns ``subject, diagnosis, site, age, sex, split, seed``.

    Examples
    --------
    >>> df = demo_cohort(CohortDesign(n_subjects=6, n_train=3, seed=1))
    >>> df.subject.tolist()
    ['demo001', 'demo002', 'demo003', 'demo004', 'demo005', 'demo006']
    >>> df.diagnosis.tolist()
    ['CN', 'MCI', 'AD', 'CN', 'MCI', 'AD']
    >>> int((df.split == "train").sum())
    3
    """
    rng = np.random.default_rng(design.seed)
    n = design.n_subjects
    width = max(3, len(str(n)))
    rows = []
    for i in range(n):
        dx = DIAGNOSES[i % 3]
        mean, sd = AGE_BY_DIAGNOSIS[dx]
        rows.append(
            {
                "subject": f"{design.id_prefix}{i + 1:0{width}d}",
                "diagnosis": dx,
                "site": site_name((i // 3) % design.n_sites),
                "age": round(float(np.clip(rng.normal(mean, sd), 55, 92)), 1),
                "sex": "F" if rng.random() < 0.55 else "M",
                "seed": int(rng.integers(0, 2**31 - 1)),
            }
        )
    df = pd.DataFrame(rows)
    # Stratified split: within each diagnosis, deal places round-robin over the
    # sites (random order inside a site), each diagnosis starting at a different
    # site; then deal round-robin over the diagnoses. Diagnoses get equal shares
    # and sites stay balanced both overall and within each diagnosis.
    df["_key"] = rng.random(n)
    queues: list[list[int]] = []
    for k, (_, by_dx) in enumerate(df.groupby("diagnosis", sort=False)):
        sites = [g.sort_values("_key").index.tolist() for _, g in by_dx.groupby("site")]
        sites = sites[k % len(sites) :] + sites[: k % len(sites)]
        depth = max(len(members) for members in sites)
        queues.append([m[d] for d in range(depth) for m in sites if d < len(m)])
    train: list[int] = []
    depth = 0
    while len(train) < design.n_train:
        for queue in queues:
            if depth < len(queue) and len(train) < design.n_train:
                train.append(queue[depth])
        depth += 1
    df["split"] = "test"
    df.loc[train, "split"] = "train"
    return df.drop(columns="_key")[["subject", "diagnosis", "site", "age", "sex", "split", "seed"]]


def samplesheet_with_references(
    samples: pd.DataFrame, truths: list[dict[str, object]], seed: int
) -> pd.DataFrame:
    """The demo sample sheet with a reference WMH volume per subject.

    The reference plays the part of another method's measurement (the studies used
    the UCD pipeline): the true volume with multiplicative and additive error, drawn
    per subject from ``seed`` so it is reproducible.
    """
    from wmhmap.demo.simulate import reference_volume_ml
    from wmhmap.samplesheet import COLUMNS

    by_subject = {str(t["subject"]): t for t in truths}
    sheet = samples.reset_index(drop=True).copy()
    references = []
    for i, subject in enumerate(sheet["subject"]):
        rng = np.random.default_rng([seed, i, 7])
        references.append(round(reference_volume_ml(float(by_subject[subject]["wmh_ml"]), rng), 4))  # type: ignore[arg-type]
    sheet["reference_wmh_ml"] = references
    # the demo gives no region_map: its true maps score the region model (DEMO)
    return sheet.reindex(columns=list(COLUMNS), fill_value="")
