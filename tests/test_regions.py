import numpy as np
import pytest

from wmhmap.errors import InputError
from wmhmap.regions import Region, RegionTable, load_region_table, merge_labels


def test_refined_jhu_table_has_34_mirrored_regions():
    table = load_region_table()
    assert len(table) == 34
    assert table.ids.tolist() == list(range(1, 35))
    assert table.hemisphere_ids("left").tolist() == list(range(1, 18))
    assert table.hemisphere_ids("right").tolist() == list(range(18, 35))
    for left in range(1, 18):
        right = table.by_id(left + 17)
        assert right.name == table.by_id(left).name
        # every right JHU label is its left twin + 65
        assert [v + 65 for v in table.by_id(left).jhu_labels] == list(right.jhu_labels)


def test_merge_table_matches_spec_examples():
    table = load_region_table()
    assert table.by_id(1).jhu_labels == (1, 8, 23)
    assert table.by_id(13).jhu_labels == (36, 39, 55, 58)
    assert table.by_id(17).jhu_labels == (51, 52, 53, 54)
    lut = table.jhu_lookup(130)
    assert lut[27] == 0  # hippocampus is grey matter: outside the 34 regions
    assert lut[119] == 34  # right splenium


def test_merge_labels_maps_unlisted_labels_to_zero():
    table = load_region_table()
    labels = np.array([[[0, 1, 8, 23, 27, 66, 130]]])
    assert merge_labels(labels, table).tolist() == [[[0, 1, 1, 1, 0, 18, 0]]]


def test_merge_labels_refuses_interpolated_labels():
    table = load_region_table()
    with pytest.raises(InputError, match="non-integer"):
        merge_labels(np.array([1.0, 2.5]), table)


def test_duplicate_jhu_label_is_refused():
    table = RegionTable((Region(1, "left", "a", (3,)), Region(2, "left", "b", (3,))))
    with pytest.raises(InputError, match="both region 1 and region 2"):
        table.jhu_lookup()


def test_unknown_label_in_map_is_named():
    table = load_region_table()
    with pytest.raises(InputError, match=r"not in the region table.*: 37, 40"):
        table.check_labels([0, 1, 35, 36, 37, 40], file="x.nii.gz")
    table.check_labels([0, 1, 34, 35, 36])  # 35/36: white matter outside the regions
