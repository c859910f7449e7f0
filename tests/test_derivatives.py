import json

from wmhmap.derivatives import bidsignore, dataset_description


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
