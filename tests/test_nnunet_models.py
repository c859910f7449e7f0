import sys
import zipfile

import numpy as np
import pytest

from wmhmap.errors import InputError
from wmhmap.nnunet.inference import fuse_probabilities, labels_from_probabilities
from wmhmap.nnunet.plans import scale_down_plans
from wmhmap.nnunet.sharing import (
    checksum_path,
    install_model,
    model_folders_in_zip,
    verify_checksum,
    write_checksum,
)


def probs(p_lesion):
    p = np.asarray(p_lesion, dtype=np.float32).reshape(1, -1, 1, 1)
    return np.concatenate([1 - p, p])


def test_mean_fusion_averages_softmax_then_argmax():
    flair = probs([0.9, 0.6, 0.2, 0.45])
    t1 = probs([0.3, 0.2, 0.7, 0.6])
    fused, used = fuse_probabilities({"FLAIR": flair, "T1w": t1}, "mean")
    np.testing.assert_allclose(fused[1].ravel(), [0.6, 0.4, 0.45, 0.525], atol=1e-6)
    assert labels_from_probabilities(fused).ravel().tolist() == [1, 0, 0, 1]
    assert used == ["FLAIR", "T1w"]
    assert labels_from_probabilities(
        fuse_probabilities({"FLAIR": flair, "T1w": t1}, "flair")[0]
    ).ravel().tolist() == [1, 1, 0, 0]
    assert labels_from_probabilities(
        fuse_probabilities({"FLAIR": flair, "T1w": t1}, "t1")[0]
    ).ravel().tolist() == [0, 0, 1, 1]


def test_missing_modality_falls_back_and_is_reported():
    t1 = probs([0.8])
    fused, used = fuse_probabilities({"T1w": t1}, "mean")
    assert used == ["T1w"]
    np.testing.assert_allclose(fused, t1)
    assert fuse_probabilities({"T1w": t1}, "flair")[1] == ["T1w"]
    with pytest.raises(InputError, match="unknown fusion"):
        fuse_probabilities({"T1w": t1}, "max")


PLANS = {
    "configurations": {
        "3d_fullres": {
            "patch_size": [48, 160, 128],
            "batch_size": 2,
            "architecture": {
                "arch_kwargs": {
                    "n_stages": 6,
                    "features_per_stage": [32, 64, 128, 256, 320, 320],
                    "kernel_sizes": [[1, 3, 3]] + [[3, 3, 3]] * 5,
                    "strides": [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]],
                    "n_conv_per_stage": [2] * 6,
                    "n_conv_per_stage_decoder": [2] * 5,
                }
            },
        }
    }
}


def test_scale_down_plans_keeps_the_network_consistent():
    out = scale_down_plans(
        PLANS,
        "3d_fullres",
        {
            "n_stages": 4,
            "base_features": 8,
            "max_features": 32,
            "patch_size": [30, 70, 64],
            "batch_size": 4,
        },
    )
    cfg = out["configurations"]["3d_fullres"]
    arch = cfg["architecture"]["arch_kwargs"]
    assert arch["features_per_stage"] == [8, 16, 32, 32]
    assert len(arch["kernel_sizes"]) == len(arch["strides"]) == len(arch["n_conv_per_stage"]) == 4
    assert len(arch["n_conv_per_stage_decoder"]) == 3
    # patch divisible by the strides' product (4, 8, 8) per axis, never above nnU-Net's
    assert cfg["patch_size"] == [28, 64, 64] and cfg["batch_size"] == 4
    assert PLANS["configurations"]["3d_fullres"]["batch_size"] == 2  # input untouched


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name in members:
            zf.writestr(name, "x")
    return path


def test_checksum_verification_and_tampering(tmp_path):
    zip_path = make_zip(
        tmp_path / "model.zip",
        ["Dataset501_WMHLesion/T__P__3d_fullres/fold_0/checkpoint_final.pth"],
    )
    digest = write_checksum(zip_path)
    assert checksum_path(zip_path).read_text().split() == [digest, "model.zip"]
    assert verify_checksum(zip_path) == digest
    with zipfile.ZipFile(zip_path, "a") as zf:
        zf.writestr("Dataset501_WMHLesion/T__P__3d_fullres/fold_0/extra.txt", "changed")
    with pytest.raises(InputError, match="differs from the expected"):
        verify_checksum(zip_path)
    with pytest.raises(InputError, match=r"no \.sha256 file"):
        verify_checksum(make_zip(tmp_path / "bare.zip", ["a"]))


def test_zip_members_escaping_the_model_folder_are_refused(tmp_path):
    zip_path = make_zip(
        tmp_path / "evil.zip", ["Dataset501_X/T__P__c/fold_0/../../../../etc/passwd"]
    )
    write_checksum(zip_path)
    with pytest.raises(InputError, match="outside the model folder"):
        install_model(zip_path)
    good = make_zip(
        tmp_path / "good.zip",
        ["Dataset501_X/T__P__c/fold_0/checkpoint_final.pth", "Dataset501_X/T__P__c/plans.json"],
    )
    assert model_folders_in_zip(good) == ["Dataset501_X/T__P__c"]


def test_wmhmap_trainer_is_found_without_importing_nnunets_primus_trainers():
    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    trainer = find_trainer_class("nnUNetTrainerShortEpochs")
    assert trainer.__name__ == "nnUNetTrainerShortEpochs"
    assert not any("primus" in name for name in sys.modules)
    assert not any(name.startswith("timm") for name in sys.modules)
    assert find_trainer_class("nnUNetTrainer").__name__ == "nnUNetTrainer"
