"""Groups of subjects by where their lesions are (clustering, stage 7).

Each subject's regional loads are divided by that subject's total regional load, so a
profile says which share of the lesion volume lies in each region and sums to 1:
clusters group subjects by the *distribution* of lesions, not by how much lesion they
have (global load is reported per group instead). Subjects without any regional lesion
have no distribution; they are left out and listed in ``excluded``.

k-means (scikit-learn, ``n_init`` restarts, seeded) is run for every k of ``ks``
(2..8 by default, capped below the number of subjects) and scored with the mean
silhouette coefficient; the chosen k is the one with the highest silhouette unless a k
is configured. Clusters are numbered 1..k from the largest to the smallest, so the
numbering does not depend on k-means' arbitrary labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from wmhmap.errors import InputError
from wmhmap.regions import RegionTable
from wmhmap.stats import region_columns as find_region_columns
from wmhmap.stats import region_id, require_columns, with_diagnosis, with_subject_ids

DEFAULT_KS = range(2, 9)
DIAGNOSES = ("CN", "MCI", "AD")
N_DOMINANT = 3


@dataclass(frozen=True)
class RegionalProfiles:
    """Normalised regional loads (rows sum to 1, indexed by subject) and who was left out."""

    profiles: pd.DataFrame
    excluded: tuple[str, ...]


@dataclass(frozen=True)
class Clustering:
    """Result of :func:`cluster_regional_loads`.

    - ``assignments``: subject, cluster (1..k, largest first)
    - ``silhouette``: k, silhouette, inertia (one row per k tried)
    - ``groups``: see :func:`group_table`
    - ``frequency``: see :func:`lesion_frequency`
    - ``excluded``: subjects without regional lesion load (not clustered)
    """

    k: int
    silhouette_score: float
    assignments: pd.DataFrame
    silhouette: pd.DataFrame
    groups: pd.DataFrame
    frequency: pd.DataFrame
    excluded: tuple[str, ...]


def regional_profiles(
    wide: pd.DataFrame, region_columns: Sequence[str] | None = None
) -> RegionalProfiles:
    """Divide each subject's regional loads by its total regional load.

    Examples
    --------
    >>> wide = pd.DataFrame({"subject": ["a", "b"], "region_01": [30.0, 0.0],
    ...                      "region_02": [10.0, 0.0]})
    >>> result = regional_profiles(wide)
    >>> result.profiles.to_dict("index"), result.excluded
    ({'a': {'region_01': 0.75, 'region_02': 0.25}}, ('b',))
    """
    columns = list(region_columns) if region_columns is not None else find_region_columns(wide)
    require_columns(wide, columns, table_name="loads table")
    loads = with_subject_ids(wide, table_name="loads table").set_index("subject")[columns]
    loads = loads.astype(float)
    if loads.isna().any().any() or (loads < 0).any().any():
        bad = loads.index[loads.isna().any(axis=1) | (loads < 0).any(axis=1)]
        raise InputError(
            f"regional loads are missing or negative for subject(s) {', '.join(bad[:5])}",
            fix="rerun the loads stage for these subjects or remove them from the table",
        )
    total = loads.sum(axis=1)
    has_lesion = total > 0
    profiles = loads[has_lesion].div(total[has_lesion], axis=0)
    return RegionalProfiles(profiles, tuple(loads.index[~has_lesion]))


def silhouette_by_k(
    profiles: pd.DataFrame | npt.ArrayLike,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    seed: int = 0,
    n_init: int = 10,
) -> pd.DataFrame:
    """k-means for each k and its mean silhouette coefficient.

    ks that leave fewer than 2 subjects per cluster on average (k >= n subjects) are
    skipped, since silhouette is undefined there.

    Returns
    -------
    pandas.DataFrame
        ``k, silhouette, inertia``.
    """
    X = np.asarray(profiles, dtype=float)
    usable = [k for k in ks if 2 <= k < X.shape[0]]
    if not usable:
        raise InputError(
            f"clustering {X.shape[0]} subject(s) needs some k with 2 <= k < "
            f"{X.shape[0]}; asked for k in {list(ks)}",
            fix="cluster a cohort with more subjects that have lesions, or choose smaller k",
        )
    rows = []
    for k in usable:
        model = _kmeans(k, seed, n_init).fit(X)
        score = (
            float(silhouette_score(X, model.labels_))
            if len(np.unique(model.labels_)) > 1
            else float("nan")
        )
        rows.append({"k": k, "silhouette": score, "inertia": float(model.inertia_)})
    return pd.DataFrame(rows)


def cluster_regional_loads(
    wide: pd.DataFrame,
    *,
    region_columns: Sequence[str] | None = None,
    k: int | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    seed: int = 0,
    n_init: int = 10,
    regions: RegionTable | None = None,
    meta: pd.DataFrame | None = None,
) -> Clustering:
    """Cluster subjects by their normalised regional loads and describe the groups.

    Parameters
    ----------
    wide
        Loads table (``subject``, ``global_mm3``, ``region_NN`` ...).
    region_columns
        Regional columns to use (default: every ``region_NN`` column).
    k
        Number of clusters; default: the k of ``ks`` with the highest silhouette.
    ks
        Candidate numbers of clusters for the silhouette scan.
    seed, n_init
        k-means seed and number of restarts.
    regions
        Region table: names in ``dominant_regions`` and the left / right counts.
    meta
        Sample sheet: diagnosis counts per group.
    """
    columns = list(region_columns) if region_columns is not None else find_region_columns(wide)
    prepared = regional_profiles(wide, columns)
    X = prepared.profiles.to_numpy()
    silhouette = silhouette_by_k(X, ks, seed=seed, n_init=n_init)
    if k is None:
        chosen = int(silhouette["k"].to_numpy()[silhouette["silhouette"].to_numpy().argmax()])
    elif 2 <= k < X.shape[0]:
        chosen = k
    else:
        raise InputError(
            f"cannot make {k} clusters of {X.shape[0]} subject(s) with lesions",
            fix="choose k between 2 and the number of subjects minus 1",
        )
    labels = _kmeans(chosen, seed, n_init).fit_predict(X)
    assignments = pd.DataFrame(
        {"subject": prepared.profiles.index, "cluster": _number_by_size(labels)}
    )
    return Clustering(
        k=chosen,
        silhouette_score=float(silhouette_score(X, labels)),
        assignments=assignments,
        silhouette=silhouette,
        groups=group_table(
            wide, assignments, prepared.profiles, region_columns=columns, regions=regions, meta=meta
        ),
        frequency=lesion_frequency(wide, assignments, columns),
        excluded=prepared.excluded,
    )


def group_table(
    wide: pd.DataFrame,
    assignments: pd.DataFrame,
    profiles: pd.DataFrame,
    *,
    region_columns: Sequence[str],
    regions: RegionTable | None = None,
    meta: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per cluster describing its subjects.

    Returns
    -------
    pandas.DataFrame
        ``cluster, n_subjects, mean_global_mm3, min_global_mm3, max_global_mm3,
        dominant_regions`` (the top 3 regions by mean normalised load, with their mean
        share), ``left_predominant`` and ``right_predominant`` (subjects whose left
        regional load exceeds the right one and vice versa; <NA> without a region
        table), and with ``meta`` one ``n_<diagnosis>`` column per diagnosis
        (``n_unknown`` for missing ones).
    """
    require_columns(wide, ["subject", "global_mm3", *region_columns], table_name="loads table")
    loads = with_subject_ids(wide, table_name="loads table").set_index("subject")
    members = assignments.set_index("subject")["cluster"]
    loads = loads.loc[members.index]
    left, right = _hemisphere_columns(region_columns, regions)
    diagnoses = _diagnoses(meta, members.index) if meta is not None else None

    rows = []
    for cluster in sorted(members.unique()):
        subjects = members.index[members == cluster]
        global_load = loads.loc[subjects, "global_mm3"].astype(float)
        shares = (
            profiles.loc[subjects, list(region_columns)]
            .mean()
            .sort_values(ascending=False, kind="stable")
        )
        row: dict[str, object] = {
            "cluster": int(cluster),
            "n_subjects": len(subjects),
            "mean_global_mm3": float(global_load.mean()),
            "min_global_mm3": float(global_load.min()),
            "max_global_mm3": float(global_load.max()),
            "dominant_regions": "; ".join(
                f"{_region_label(str(c), regions)} ({share:.0%})"
                for c, share in shares.head(N_DOMINANT).items()
            ),
        }
        if regions is None:
            row["left_predominant"] = row["right_predominant"] = pd.NA
        else:
            left_load = loads.loc[subjects, left].astype(float).sum(axis=1)
            right_load = loads.loc[subjects, right].astype(float).sum(axis=1)
            row["left_predominant"] = int((left_load > right_load).sum())
            row["right_predominant"] = int((right_load > left_load).sum())
        if diagnoses is not None:
            counts = diagnoses.loc[subjects].value_counts()
            for name in _diagnosis_order(diagnoses):
                row[f"n_{name}"] = int(counts.get(name, 0))
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("left_predominant", "right_predominant"):
        table[column] = table[column].astype("Int64")
    return table


def lesion_frequency(
    wide: pd.DataFrame, assignments: pd.DataFrame, region_columns: Sequence[str]
) -> pd.DataFrame:
    """Share of each cluster's subjects with any lesion (load > 0) in each region.

    Returns
    -------
    pandas.DataFrame
        ``cluster`` and one column per region, values in [0, 1].

    Examples
    --------
    >>> wide = pd.DataFrame({"subject": ["a", "b", "c"], "region_01": [5.0, 0.0, 2.0],
    ...                      "region_02": [1.0, 3.0, 0.0]})
    >>> lesion_frequency(wide, pd.DataFrame({"subject": ["a", "b", "c"],
    ...                                      "cluster": [1, 1, 2]}), ["region_01", "region_02"])
       cluster  region_01  region_02
    0        1        0.5        1.0
    1        2        1.0        0.0
    """
    require_columns(wide, ["subject", *region_columns], table_name="loads table")
    loads = with_subject_ids(wide, table_name="loads table").set_index("subject")
    members = assignments.set_index("subject")["cluster"]
    has_lesion = (loads.loc[members.index, list(region_columns)].astype(float) > 0).astype(float)
    return has_lesion.groupby(members.to_numpy()).mean().rename_axis("cluster").reset_index()


def _kmeans(k: int, seed: int, n_init: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed)


def _number_by_size(labels: npt.NDArray[np.int_]) -> npt.NDArray[np.int_]:
    """Renumber k-means labels 1..k, largest cluster first (ties: lower label first)."""
    values, counts = np.unique(labels, return_counts=True)
    order = values[np.lexsort((values, -counts))]
    mapping = {int(old): new for new, old in enumerate(order, start=1)}
    return np.array([mapping[int(label)] for label in labels], dtype=int)


def _hemisphere_columns(
    region_columns: Sequence[str], regions: RegionTable | None
) -> tuple[list[str], list[str]]:
    if regions is None:
        return [], []
    hemisphere = {}
    for column in region_columns:
        try:
            hemisphere[column] = regions.by_id(region_id(column)).hemisphere
        except KeyError:
            raise InputError(
                f"loads column {column} names a region that is not in the region table",
                fix="use the region table the loads were computed with",
            ) from None
    return (
        [c for c in region_columns if hemisphere[c] == "left"],
        [c for c in region_columns if hemisphere[c] == "right"],
    )


def _region_label(column: str, regions: RegionTable | None) -> str:
    if regions is None:
        return column
    rid = region_id(column)
    try:
        return f"{rid} {regions.by_id(rid).label}"
    except KeyError:
        return column


def _diagnoses(meta: pd.DataFrame, subjects: pd.Index) -> pd.Series:
    sheet = with_subject_ids(with_diagnosis(meta), table_name="sample sheet")
    diagnosis = sheet.set_index("subject")["diagnosis"].reindex(subjects)
    text = diagnosis.astype("string").str.strip().str.upper()
    return text.fillna("unknown").astype(str)


def _diagnosis_order(diagnoses: pd.Series) -> list[str]:
    found = set(diagnoses.unique())
    others = sorted(found - set(DIAGNOSES) - {"unknown"})
    return [*DIAGNOSES, *others] + (["unknown"] if "unknown" in found else [])
