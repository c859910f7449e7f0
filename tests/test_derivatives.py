import json

from wmhmap.derivatives import bidsignore, dataset_description, dseg_lookup
from wmhmap.regions import Region, RegionTable


def test_description_of_results_from_a_bids_dataset(tmp_path):
    (tmp_path / "dataset_description.json").write_text(
        json.dumps({"Name": "ADNI subset", "BIDSVersion": "1.8.0", "DatasetDOI": "10.5/abc"})
    )
    d = dataset_description(tmp_path)
    assert d["DatasetType"] == "derivative" and d["BIDSVersion"].startswith("1.")
    assert d["Name"] == "wmhmap derivatives of ADNI subset"
    assert d["GeneratedBy"][0]["Name"] == "wmhmap" and d["GeneratedBy"][0]["Version"]
    assert d["SourceDatasets"] == [{"URL": tmp_path.as_uri(), "DOI": "10.5/abc"}]
    assert "SourceDatasets" not in dataset_description(None)


def test_bidsignore_hides_every_non_bids_folder_of_the_results():
    lines = bidsignore().splitlines()
    for folder in ("group/", "nnunet/", "logs/", "atlas/", "sub-*/qc/", "sub-*/ses-*/figures/"):
        assert folder in lines


def test_dseg_lookup_names_each_region_value_with_its_hemisphere():
    table = RegionTable(
        (Region(7, "left", "cingulate WM", (2,)), Region(40, "right", "cingulate WM", (3,)))
    )
    lookup = dseg_lookup(table)
    assert lookup.columns[:2].tolist() == ["index", "name"]  # BIDS dseg.tsv
    assert lookup["index"].tolist() == [7, 40]
    assert lookup["name"].tolist() == ["left cingulate WM", "right cingulate WM"]
    assert lookup["abbreviation"].tolist() == ["L cingulate WM", "R cingulate WM"]
