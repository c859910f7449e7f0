"""The 34 white-matter regions: ids, names, hemispheres and the JHU labels merged into each.

The table lives in ``resources/atlas/regions.tsv`` (columns ``region_id``,
``hemisphere``, ``name``, ``jhu_labels``, ``jhu_names``). Regions 1-17 are left,
18-34 right; every right JHU type II label is its left twin + 65.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from wmhmap.errors import InputError

OUTSIDE = 0
"""Label of everything that is not one of the regions (background)."""

OTHER_LEFT = 35
"""Left white matter outside the regions (the refined atlas's label 35): white matter
on an atlas structure that no region lists (brainstem tracts, cerebellum, deep grey
nuclei, hippocampus ...). Like :data:`OUTSIDE`, it counts as outside the regions."""
OTHER_RIGHT = 36
"""Right white matter outside the regions (the refined atlas's label 36)."""
OTHER = (OTHER_LEFT, OTHER_RIGHT)


@dataclass(frozen=True)
class Region:
    """One merged white-matter region."""

    region_id: int
    hemisphere: str
    name: str
    jhu_labels: tuple[int, ...]

    @property
    def label(self) -> str:
        """Short display label, e.g. ``"L parietal superficial WM"``."""
        return f"{self.hemisphere[0].upper()} {self.name}"


@dataclass(frozen=True)
class RegionTable:
    """An ordered set of regions with unique positive integer ids."""

    regions: tuple[Region, ...]

    def __post_init__(self) -> None:
        ids = [r.region_id for r in self.regions]
        if len(set(ids)) != len(ids):
            raise InputError("region ids are not unique", fix="give every region its own id")
        if any(i <= 0 for i in ids):
            raise InputError(
                "region ids must be positive integers (0 means outside every region)",
                fix="renumber the region table from 1",
            )

    def __len__(self) -> int:
        return len(self.regions)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.regions)

    @property
    def ids(self) -> npt.NDArray[np.int64]:
        return np.array([r.region_id for r in self.regions], dtype=np.int64)

    @property
    def max_id(self) -> int:
        return int(self.ids.max())

    def by_id(self, region_id: int) -> Region:
        for r in self.regions:
            if r.region_id == region_id:
                return r
        raise KeyError(region_id)

    def hemisphere_ids(self, hemisphere: str) -> npt.NDArray[np.int64]:
        return np.array(
            [r.region_id for r in self.regions if r.hemisphere == hemisphere], dtype=np.int64
        )

    def jhu_lookup(self, max_label: int = 255) -> npt.NDArray[np.int16]:
        """Return a lookup array mapping every JHU label to its merged region (0: none)."""
        lut = np.zeros(max_label + 1, dtype=np.int16)
        for r in self.regions:
            for label in r.jhu_labels:
                if label > max_label:
                    raise InputError(
                        f"JHU label {label} of region {r.region_id} exceeds {max_label}",
                        fix="check the jhu_labels column of the region table",
                    )
                if lut[label]:
                    raise InputError(
                        f"JHU label {label} is merged into both region {lut[label]} and "
                        f"region {r.region_id}",
                        fix="list every JHU label under one region only",
                    )
                lut[label] = r.region_id
        return lut

    def check_labels(self, labels: Iterable[int], *, file: str | Path | None = None) -> None:
        """Raise :class:`InputError` if ``labels`` holds values that are not region ids
        (or :data:`OUTSIDE` and the :data:`OTHER` labels)."""
        known = set(self.ids.tolist()) | {OUTSIDE} | (set(OTHER) - set(self.ids.tolist()))
        unknown = sorted(set(int(v) for v in labels) - known)
        if unknown:
            shown = ", ".join(str(u) for u in unknown[:10])
            raise InputError(
                f"label map holds {len(unknown)} value(s) that are not in the region table "
                f"(ids 1..{self.max_id}, {OTHER_LEFT}/{OTHER_RIGHT} for other white "
                f"matter): {shown}",
                file=file,
                fix="use a label map of the merged 34-region atlas (wmhmap build-atlas "
                "turns a JHU type II map into one) or extend the region table",
            )


def default_region_table_path() -> Path:
    """Path of the region table shipped with wmhmap (wheel) or found in the repository."""
    here = Path(__file__).resolve().parent
    for candidate in (
        here / "data" / "regions.tsv",
        here.parent / "resources" / "atlas" / "regions.tsv",
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("regions.tsv is neither packaged with wmhmap nor in the repository")


def load_region_table(path: str | Path | None = None) -> RegionTable:
    """Read a region table TSV (default: the refined JHU 34-region table).

    Parameters
    ----------
    path
        TSV with at least ``region_id``, ``hemisphere`` and ``name``; ``jhu_labels``
        (comma-separated) is optional.
    """
    path = Path(path) if path is not None else default_region_table_path()
    if not path.is_file():
        raise InputError("region table not found", file=path, fix="check the path in the config")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        missing = {"region_id", "hemisphere", "name"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(
                f"region table lacks column(s) {', '.join(sorted(missing))}",
                file=path,
                fix="use tab-separated columns region_id, hemisphere, name[, jhu_labels]",
            )
        regions = []
        for line, row in enumerate(reader, start=2):
            try:
                rid = int(row["region_id"])
                labels = tuple(
                    int(v) for v in (row.get("jhu_labels") or "").split(",") if v.strip()
                )
            except ValueError as exc:
                raise InputError(
                    f"line {line}: {exc}", file=path, fix="region ids and labels are integers"
                ) from None
            hemisphere = row["hemisphere"].strip().lower()
            if hemisphere not in {"left", "right", "bilateral"}:
                raise InputError(
                    f"line {line}: hemisphere {row['hemisphere']!r} is not left/right/bilateral",
                    file=path,
                    fix="write left, right or bilateral",
                )
            regions.append(Region(rid, hemisphere, row["name"].strip(), labels))
    return RegionTable(tuple(regions))


def merge_labels(
    labels: npt.ArrayLike, table: RegionTable, *, file: str | Path | None = None
) -> npt.NDArray[np.uint8]:
    """Merge an atlas label image (e.g. JHU type II) into the table's regions.

    Labels that no region lists become 0 ("outside the regions").

    Examples
    --------
    >>> t = RegionTable((Region(1, "left", "a", (3, 4)), Region(2, "right", "b", (68,))))
    >>> merge_labels(np.array([0, 3, 4, 5, 68]), t).tolist()
    [0, 1, 1, 0, 2]
    """
    arr = np.asarray(labels)
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr < 0)):
        raise InputError(
            "atlas label image holds negative or non-finite values",
            file=file,
            fix="pass an integer label image",
        )
    as_int = arr.astype(np.int64)
    if not np.array_equal(as_int, arr):
        raise InputError(
            "atlas label image holds non-integer values (was it resampled with linear "
            "interpolation?)",
            file=file,
            fix="pass the original integer label image",
        )
    max_label = max(int(as_int.max(initial=0)), max(max(r.jhu_labels, default=0) for r in table))
    lut = table.jhu_lookup(max_label)
    return lut[as_int].astype(np.uint8)
