import json
import sys
import zipfile

import numpy as np
import pytest

from wmhmap.errors import InputError
from wmhmap.nnunet.inference import (
    Segmentation,
    fuse_probabilities,
    labels_from_probabilities,
    quantize_probability,
    restrict_to,
)
from wmhmap.nnunet.plans import scale_down_plans
from wmhmap.nnunet.sharing import (
    checksum_path,
    install_model,
    model_checksums,
    model_folders_in_zip,
    model_manifest,
    verify_checksum,
    write_checksum,
)
from wmhmap.preprocess import dilate_mask_mm


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
            "spacing": [3.0, 1.0, 1.0],
            "median_image_size_in_voxels": [60.0, 220.0, 180.0],
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


def test_stored_probabilities_threshold_back_to_the_argmax_mask(tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(0)
    # two folds that disagree put the ensemble right at 0.5, where rounding used to flip
    folds = rng.random((2, 40, 30, 20)) > 0.5
    p_lesion = np.concatenate(
        [folds.mean(axis=0).ravel(), 0.5 + rng.normal(0, 1e-3, 5000), rng.random(5000)]
    ).reshape(-1, 1, 1)
    softmax = np.stack([1 - p_lesion, p_lesion])
    mask = labels_from_probabilities(softmax)
    img = nib.Nifti1Image(quantize_probability(p_lesion), np.eye(4))
    img.header.set_slope_inter(1 / 255, 0)
    nib.save(img, tmp_path / "p.nii.gz")
    stored = nib.load(tmp_path / "p.nii.gz").get_fdata()
    np.testing.assert_array_equal(stored >= 0.5, mask == 1)
    assert np.abs(stored - p_lesion).max() <= 1 / 255 + 1e-9  # still within one step


def test_lesions_beyond_the_brain_become_background_in_every_map():
    brain = np.zeros((30, 30, 10), bool)
    brain[5:20, 5:20, 2:8] = True
    lesions = np.zeros_like(brain)
    lesions[10:13, 10:13, 4:6] = True  # inside
    lesions[21:23, 10:12, 4:6] = True  # 2-3 voxels (2-3 mm) beyond the edge: kept at 5 mm
    lesions[27:30, 27:30, 4:6] = True  # far outside: removed
    p = np.where(lesions, 0.9, 0.05).astype(np.float32)
    softmax = np.stack([1 - p, p])
    folds = np.stack([softmax, softmax])
    seg = Segmentation(softmax, {"FLAIR": softmax, "T1w": softmax}, folds, ["FLAIR"], [])
    kept = restrict_to(seg, dilate_mask_mm(brain, (1.0, 1.0, 1.0), 5.0))
    expected = lesions.copy()
    expected[27:30, 27:30] = False
    np.testing.assert_array_equal(kept.labels == 1, expected)
    for probs in (kept.per_modality["T1w"], *kept.per_fold):
        np.testing.assert_array_equal(labels_from_probabilities(probs) == 1, expected)
        np.testing.assert_allclose(probs.sum(axis=0), 1.0)
    assert kept.per_fold[0, 1, 28, 28, 5] == 0.0 and kept.per_fold[0, 0, 28, 28, 5] == 1.0
    assert seg.labels[28, 28, 5] == 1  # the input is left as it was


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


def test_model_manifest_names_the_weights_of_every_fold(tmp_path):
    import hashlib

    folder = tmp_path / "Dataset501_WMHLesion" / "TrainerX__PlansY__2d"
    for fold, content in ((0, b"weights zero"), (1, b"weights one")):
        (folder / f"fold_{fold}").mkdir(parents=True)
        (folder / f"fold_{fold}" / "checkpoint_final.pth").write_bytes(content)
    manifest = model_manifest(folder, (0, 1))
    assert (manifest["dataset"], manifest["trainer"], manifest["plans"]) == (
        "Dataset501_WMHLesion",
        "TrainerX",
        "PlansY",
    )
    assert manifest["configuration"] == "2d"
    record = tmp_path / "lesion.json"
    record.write_text(json.dumps(manifest))
    assert model_checksums(record) == {
        "fold_0": hashlib.sha256(b"weights zero").hexdigest(),
        "fold_1": hashlib.sha256(b"weights one").hexdigest(),
    }
    installed = tmp_path / "lesion.sha256"
    installed.write_text("abc123  model.zip\n")
    assert model_checksums(installed) == {"zip": "abc123"}
    with pytest.raises(InputError, match="fold 2 has no final checkpoint"):
        model_manifest(folder, (0, 1, 2))


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


def test_a_patch_with_the_wrong_number_of_axes_is_refused_clearly():
    with pytest.raises(ValueError, match=r"has 2 axes but the 3d_fullres configuration has 3"):
        scale_down_plans(PLANS, "3d_fullres", {"patch_size": [64, 64]})
    with pytest.raises(ValueError, match=r"spacing .* has 2 axes .* give \(y, x\) for 2d"):
        scale_down_plans(PLANS, "3d_fullres", {"spacing": [3, 3]})


def test_a_coarser_spacing_shrinks_the_median_image_the_planner_saw():
    cfg = scale_down_plans(PLANS, "3d_fullres", {"spacing": [3, 2, 2]})["configurations"]
    assert cfg["3d_fullres"]["spacing"] == [3.0, 2.0, 2.0]
    assert cfg["3d_fullres"]["median_image_size_in_voxels"] == [60.0, 110.0, 90.0]
    assert PLANS["configurations"]["3d_fullres"]["spacing"] == [3.0, 1.0, 1.0]


def test_model_training_settings_override_the_shared_ones():
    from wmhmap.nnunet.training import model_settings

    shared = {
        "trainer": "nnUNetTrainer",
        "epochs": 10,
        "oversample_foreground": 0.33,
        "plans_overrides": {"n_stages": 5, "patch_size": [128, 112]},
    }
    assert model_settings(shared, {"training": {}}) == shared
    own = model_settings(
        shared,
        {
            "training": {
                "trainer": "T",
                "oversample_foreground": 1.0,
                "plans_overrides": {"patch_size": [64, 64]},
            }
        },
    )
    assert own["trainer"] == "T" and own["epochs"] == 10 and own["oversample_foreground"] == 1.0
    assert own["plans_overrides"] == {"n_stages": 5, "patch_size": [64, 64]}
    assert shared["plans_overrides"]["patch_size"] == [128, 112]  # input untouched
    # None undoes an override of an earlier config file: nnU-Net's own value
    undone = model_settings(shared, {"training": {"plans_overrides": {"n_stages": None}}})
    assert undone["plans_overrides"] == {"patch_size": [128, 112]}


def test_nnunets_no_mirroring_trainer_is_found_without_primus():
    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    assert find_trainer_class("nnUNetTrainerNoMirroring").__name__ == "nnUNetTrainerNoMirroring"
    ours = find_trainer_class("nnUNetTrainerShortEpochsNoMirroring")
    assert [c.__name__ for c in ours.__mro__[1:3]] == [
        "LateralisedAugmentation",
        "nnUNetTrainerShortEpochs",
    ]
    assert not any(name.startswith("timm") for name in sys.modules)


def optimiser_of(cls):
    """The optimiser a trainer class configures (a stand-in network, nnU-Net's settings)."""
    import torch

    trainer = object.__new__(cls)
    trainer.network = torch.nn.Conv2d(1, 2, 3)
    trainer.initial_lr, trainer.weight_decay, trainer.num_epochs = 1e-2, 3e-5, 32  # nnU-Net's
    optimizer, _ = trainer.configure_optimizers()
    return optimizer


def test_cpu_region_trainer_uses_adamw_without_augmentation():
    """nnUNetTrainerShortEpochsNoDAAdamW: nnU-Net's NoDA transforms, short epochs, AdamW."""
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    cls = find_trainer_class("nnUNetTrainerShortEpochsNoDAAdamW")
    names = [c.__name__ for c in cls.__mro__]
    assert names.index("nnUNetTrainerNoDA") < names.index("nnUNetTrainerShortEpochs")
    assert not any(name.startswith("timm") for name in sys.modules)
    # training transforms are nnU-Net's validation transforms: no spatial augmentation
    training = cls.get_training_transforms((64, 56), (0.0, 0.0), None, (0, 1), False)
    validation = nnUNetTrainer.get_validation_transforms(None)
    assert [type(t) for t in training.transforms] == [type(t) for t in validation.transforms]
    optimizer = optimiser_of(cls)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["lr"] == 3e-3


@pytest.mark.parametrize(
    "name", ["nnUNetTrainerShortEpochsAdamW", "nnUNetTrainerShortEpochsFlairFirstAdamW"]
)
def test_cpu_lesion_trainers_keep_augmentation_and_use_adamw(name):
    """The AdamW lesion trainers (the config's with the FLAIR-first curriculum): nnU-Net's
    own augmentation, short epochs, AdamW."""
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    cls = find_trainer_class(name)
    assert "nnUNetTrainerNoDA" not in [c.__name__ for c in cls.__mro__]
    args = ((64, 64), (0.5, 0.5), None, (0, 1), False)
    assert [type(t) for t in cls.get_training_transforms(*args).transforms] == [
        type(t) for t in nnUNetTrainer.get_training_transforms(*args).transforms
    ]
    optimizer = optimiser_of(cls)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["lr"] == 3e-3


def test_short_epoch_trainers_draw_progress_every_few_epochs_and_after_the_last(monkeypatch):
    """progress.png (0.4-0.5 s to draw) after epochs 5, 10, ... and the last, not every one."""
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    drawn: list[int] = []

    class Logger:
        def plot_progress_png(self, folder):
            drawn.append(trainer.current_epoch)

    def parent_init(self, *args, **kwargs):  # nnU-Net's, reduced to what the hook uses
        self.logger, self.current_epoch, self.num_epochs = Logger(), 0, 12

    monkeypatch.setattr(nnUNetTrainer, "__init__", parent_init)
    for name in ("nnUNetTrainerShortEpochs", "nnUNetTrainerShortEpochsNoDAAdamW"):
        drawn.clear()
        trainer = find_trainer_class(name)({}, "2d", 0, {}, torch.device("cpu"))
        for epoch in range(trainer.num_epochs):  # what nnU-Net's on_epoch_end does
            trainer.current_epoch = epoch
            trainer.logger.plot_progress_png("fold_0")
        assert drawn == [4, 9, 11], name
        assert trainer.num_iterations_per_epoch == 25


class _Logger:
    def log(self, *args):
        pass


class _Loader:
    finished = False

    def _finish(self):
        self.finished = True


def flair_first_trainer(tmp_path, train, num_epochs):
    """A FLAIR-first trainer with only what its split and epoch hooks touch."""
    import json

    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    (tmp_path / "splits_final.json").write_text(json.dumps([{"train": train, "val": ["c_FLAIR"]}]))
    trainer = object.__new__(find_trainer_class("nnUNetTrainerShortEpochsFlairFirst"))
    trainer.fold, trainer.num_epochs, trainer.current_epoch = 0, num_epochs, 0
    trainer.preprocessed_dataset_folder_base = trainer.preprocessed_dataset_folder = str(tmp_path)
    trainer.dataset_class = lambda *args, **kwargs: None
    trainer.folder_with_segs_from_previous_stage = None
    trainer.print_to_log_file = lambda *args, **kwargs: None
    trainer.logger = _Logger()
    return trainer


def test_flair_first_curriculum_switches_from_flair_cases_to_all(tmp_path):
    cases = ["a_FLAIR", "a_T1w", "b_FLAIR", "b_T1w"]
    trainer = flair_first_trainer(tmp_path, cases, num_epochs=6)
    assert trainer.do_split() == (["a_FLAIR", "b_FLAIR"], ["c_FLAIR"])
    old = trainer.dataloader_train, trainer.dataloader_val = _Loader(), _Loader()
    trainer.get_dataloaders = lambda: (cases, "val")  # what the rebuilt loaders would hold
    trainer.current_epoch = 3
    trainer.on_epoch_start()  # epoch 3 is still FLAIR-only (2/3 of 6 epochs = 4)
    assert trainer.dataloader_train is old[0] and not old[0].finished
    trainer.current_epoch = 4
    trainer.on_epoch_start()
    assert old[0].finished and old[1].finished and trainer.dataloader_train == cases
    assert trainer.do_split()[0] == cases
    # a resumed training past the switch starts with all cases and never rebuilds
    late = flair_first_trainer(tmp_path, cases, num_epochs=6)
    late.current_epoch = 5
    assert late.do_split()[0] == cases


def test_flair_first_curriculum_leaves_multichannel_datasets_alone(tmp_path):
    trainer = flair_first_trainer(tmp_path, ["a", "b"], num_epochs=6)
    assert trainer.do_split()[0] == ["a", "b"]


def test_a_truncated_checkpoint_is_set_aside_not_resumed_from(tmp_path):
    """A job killed while nnU-Net wrote checkpoint_latest.pth leaves half a file."""
    import torch

    from wmhmap.nnunet.training import _readable_checkpoint

    good = tmp_path / "good" / "checkpoint_latest.pth"
    good.parent.mkdir()
    torch.save({"network_weights": {"w": torch.zeros(1000)}, "current_epoch": 3}, good)
    assert _readable_checkpoint(good) and good.is_file()
    bad = tmp_path / "checkpoint_latest.pth"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert not _readable_checkpoint(bad)
    assert not bad.exists() and bad.with_suffix(".pth.corrupt").is_file()


def test_a_seed_runs_augmentation_in_process_and_repeats_every_random_stream(monkeypatch):
    """nnunet.seed: nnU-Net's augmentation workers would reseed themselves at random."""
    import random

    import torch
    from nnunetv2.utilities.default_n_proc_DA import get_allowed_n_proc_DA

    from wmhmap.nnunet.training import seed_training

    monkeypatch.setenv("nnUNet_n_proc_DA", "3")
    draws = []
    for seed in (7, 7, 8):
        seed_training(seed, "cpu")
        legacy = np.random.rand(3).tolist()  # noqa: NPY002 (the state nnU-Net draws from)
        draws.append((random.random(), legacy, torch.rand(3).tolist()))
    assert draws[0] == draws[1] != draws[2]
    assert get_allowed_n_proc_DA() == 0  # SingleThreadedAugmenter: one fixed sequence
    assert not torch.are_deterministic_algorithms_enabled()  # CPU: seeding is enough


@pytest.mark.parametrize(
    ("patch", "shape", "mirror_axes"),
    [([32, 32], (1, 7, 70, 45), None), ([16, 24, 16], (2, 21, 50, 30), (0, 1, 2))],
)
def test_batched_sliding_window_gives_nnunets_own_logits(patch, shape, mirror_axes):
    """Same Gaussian-weighted logits as nnU-Net's one-patch-at-a-time predictor (2-D
    network over a volume, 3-D network with test-time mirroring), whatever the batch."""
    import torch
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from wmhmap.nnunet.predictor import BatchedPredictor

    torch.manual_seed(0)
    dims = len(patch)
    conv, norm = (
        (torch.nn.Conv2d, torch.nn.InstanceNorm2d)
        if dims == 2
        else (torch.nn.Conv3d, torch.nn.InstanceNorm3d)
    )
    network = PlainConvUNet(
        shape[0],
        3,
        [4, 8, 16],
        conv,
        3,
        [1, 2, 2],
        2,
        3,
        1,
        False,
        norm,
        {"eps": 1e-5, "affine": True},
        nonlin=torch.nn.LeakyReLU,
    ).eval()
    labels = type("Labels", (), {"num_segmentation_heads": 3})()
    plans = type("Plans", (), {"get_label_manager": lambda self, _: labels})()
    configuration = type("Configuration", (), {"patch_size": patch})()
    image = torch.randn(*shape)

    def logits(predictor):
        predictor.manual_initialization(
            network, plans, configuration, [network.state_dict()], {}, "t", mirror_axes
        )
        return predictor.predict_logits_from_preprocessed_data(image).float()

    options = {
        "tile_step_size": 0.5,
        "use_mirroring": mirror_axes is not None,
        "device": torch.device("cpu"),
        "allow_tqdm": False,
    }
    expected = logits(nnUNetPredictor(**options))
    assert expected.shape == (3, *shape[1:])
    for batch_size in (1, 5, None):
        # with nnU-Net's float16 accumulators: its sums of the same values, in another order
        got = logits(BatchedPredictor(batch_size=batch_size, half_accumulators=True, **options))
        assert torch.allclose(got, expected, atol=2e-3, rtol=1e-3), batch_size
    # float32 accumulators (the CPU default): only nnU-Net's float16 rounding differs. It
    # is large only at the volume's edges, where the Gaussian weights are tiny (float16
    # then loses them: nnU-Net returns 0 in some corners of a 3-D volume)
    exact = logits(BatchedPredictor(**options))
    assert exact.dtype == torch.float32 and bool((exact != 0).all())
    difference = (exact - expected).abs().flatten()
    assert difference.median() < 1e-3 and difference.quantile(0.99) < 0.05


PLAN_WITH_ONE_THREAD = """
import sys
from pathlib import Path
import nibabel as nib
import numpy as np
from wmhmap.nnunet.env import configure
root = Path(sys.argv[1])
folders = configure(root, threads=1)  # what a one-thread job (snakemake --cores 1) gets
from wmhmap.nnunet.datasets import TrainingSubject, write_raw_dataset
from wmhmap.nnunet.plans import plan_and_preprocess
rng = np.random.default_rng(0)
subjects = []
for i in range(4):
    image, label = rng.random((24, 28, 20)).astype(np.float32), np.zeros((24, 28, 20), np.uint8)
    label[8:14, 8:14, 6:10] = 1
    nib.save(nib.Nifti1Image(image, np.eye(4)), root / f"s{i}_FLAIR.nii.gz")
    nib.save(nib.Nifti1Image(label, np.eye(4)), root / f"s{i}_label.nii.gz")
    subjects.append(TrainingSubject(f"s{i}", {"FLAIR": root / f"s{i}_FLAIR.nii.gz"},
                                    root / f"s{i}_label.nii.gz"))
write_raw_dataset(folders.raw / "Dataset990_OneThread", subjects, input_mode="single_channel",
                  labels={"background": 0, "WMH": 1}, dataset_name="OneThread",
                  description="test")
plans = plan_and_preprocess(990, configuration="3d_fullres", plans_name="nnUNetPlansCPU",
                            overrides={"n_stages": 3, "base_features": 4, "max_features": 16,
                                       "batch_size": 2}, processes=1)
import os
print("PLANS", plans, "AUGMENTATION_PROCESSES", os.environ["nnUNet_n_proc_DA"])
"""


def test_planning_runs_in_a_one_thread_job(tmp_path):
    """A one-thread job leaves nnU-Net no augmentation process (augmentation in the
    training process); nnU-Net's planner uses that number as torch's thread count, and
    0 stopped every plan_nnunet job of a ``snakemake --cores 1`` run."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("nnUNet_")}
    run = subprocess.run(
        [sys.executable, "-c", PLAN_WITH_ONE_THREAD, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    plans = json.loads(
        (tmp_path / "preprocessed/Dataset990_OneThread/nnUNetPlansCPU.json").read_text()
    )
    arch = plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
    assert arch["features_per_stage"] == [4, 8, 16]
    preprocessed = tmp_path / "preprocessed/Dataset990_OneThread/nnUNetPlansCPU_3d_fullres"
    assert len(list(preprocessed.glob("*_0000*"))) + len(list(preprocessed.glob("*.b2nd"))) >= 4
    # training afterwards still runs augmentation in-process, as the job asked
    assert "AUGMENTATION_PROCESSES 0" in run.stdout


def test_a_gpu_is_seen_only_where_the_nvidia_driver_lists_one(tmp_path):
    from wmhmap.nnunet.env import gpu_visible

    gpus = tmp_path / "gpus"
    assert not gpu_visible(gpus, platform="linux")  # no driver
    gpus.mkdir()
    assert not gpu_visible(gpus, platform="linux")  # driver, no GPU
    (gpus / "0000:3b:00.0").mkdir()
    assert gpu_visible(gpus, platform="linux")


def test_the_compile_setting_is_what_nnunets_own_check_reads(monkeypatch):
    """nnU-Net decides when a trainer initialises whether to torch.compile the network
    (on CUDA unless nnUNet_compile says otherwise; never on a CPU); ``nnunet.compile``
    reaches that decision through :func:`set_compile`."""
    import types

    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from wmhmap.nnunet.training import set_compile

    def compiles(device: str) -> bool:
        trainer = types.SimpleNamespace(device=torch.device(device), print_to_log_file=print)
        return bool(nnUNetTrainer._do_i_compile(trainer))  # type: ignore[arg-type]

    monkeypatch.delenv("nnUNet_compile", raising=False)
    set_compile(None)
    assert compiles("cuda") and not compiles("cpu")  # nnU-Net's default
    monkeypatch.setenv("nnUNet_compile", "1")  # a user's own setting, restored afterwards
    set_compile(None)
    assert compiles("cuda")
    set_compile(False)
    assert not compiles("cuda")
    set_compile(True)
    assert compiles("cuda") and not compiles("cpu")


def sides_swapped(name: str, patch_size: tuple[int, ...], draws: int = 60) -> int:
    """How many of ``draws`` training augmentations of a trainer put the left label of a
    two-label image (1 left, 2 right, split along the last axis) on the right."""
    import types

    import torch

    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    cls = find_trainer_class(name)
    trainer = object.__new__(cls)  # only what the augmentation setup reads
    trainer.configuration_manager = types.SimpleNamespace(patch_size=list(patch_size))
    trainer.print_to_log_file = lambda *args, **kwargs: None
    rotation, dummy_2d, initial, mirror_axes = (
        trainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
    )
    assert mirror_axes is None or name == "nnUNetTrainerShortEpochs"
    transforms = cls.get_training_transforms(patch_size, rotation, None, mirror_axes, dummy_2d)
    shape = tuple(int(s) for s in initial)  # the patch cut before the spatial transforms
    left = np.indices(shape)[-1] < shape[-1] // 2
    segmentation = np.where(left, 1, 2)[None].astype(np.int16)
    noise = np.random.default_rng(0).normal(0, 0.1, segmentation.shape)
    image = torch.from_numpy((segmentation + noise).astype(np.float32))
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 (batchgeneratorsv2 draws from the global generator)
    swapped = 0
    for _ in range(draws):
        out = transforms(image=image.clone(), segmentation=torch.from_numpy(segmentation.copy()))
        labels = out["segmentation"][0].numpy()
        x = np.indices(labels.shape)[-1]
        swapped += int(x[labels == 1].mean() > x[labels == 2].mean())
    return swapped


@pytest.mark.parametrize("patch_size", [(64, 56), (16, 96, 96)], ids=["2d", "3d-thick-slices"])
def test_region_trainers_never_swap_left_and_right(patch_size):
    """The lateralised trainers (the region model's, GPU and CPU) keep each side's label
    on its side: no mirroring, and rotations of at most 15 degrees where nnU-Net turns a
    square 2-D patch, or the slices of a thick-slice 3-D patch, by up to 180 degrees."""
    import torch

    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    assert sides_swapped("nnUNetTrainerShortEpochs", patch_size) > 10  # nnU-Net's own
    for name in (
        "nnUNetTrainerLateralised",  # GPU
        "nnUNetTrainerShortEpochsNoMirroring",
        "nnUNetTrainerShortEpochsNoMirroringAdamW",
    ):
        assert sides_swapped(name, patch_size) == 0, name
    optimizer = optimiser_of(find_trainer_class("nnUNetTrainerShortEpochsNoMirroringAdamW"))
    assert isinstance(optimizer, torch.optim.AdamW)


def gce_reference(logits: np.ndarray, target: np.ndarray, q: float) -> float:
    """Generalised cross-entropy written out with numpy: mean of (1 - p_y^q) / q."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p_y = np.take_along_axis(p, target[:, None], axis=1)[:, 0]
    return float(np.mean((1 - p_y**q) / q))


def test_generalised_cross_entropy_matches_its_definition_and_spares_disputed_labels():
    import torch

    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    # the trainers' module is loaded from its file, not imported: its namespace
    gce = find_trainer_class("nnUNetTrainerGCE")._build_loss.__globals__["GeneralisedCrossEntropy"]
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (2, 3, 5, 4)).astype(np.float32)
    target = rng.integers(0, 3, (2, 5, 4))
    as_label_map = torch.from_numpy(target[:, None].astype(np.float32))  # nnU-Net's (b, 1, ...)
    for q in (0.3, 0.7, 1.0):
        got = float(gce(q)(torch.from_numpy(logits), as_label_map))
        assert got == pytest.approx(gce_reference(logits, target, q), rel=1e-5)
    # q -> 0 is the cross-entropy; q = 1 the mean absolute error of p_y
    ce = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(target))
    assert float(gce(1e-4)(torch.from_numpy(logits), as_label_map)) == pytest.approx(
        float(ce), rel=1e-3
    )
    # ignored voxels count nowhere
    ignored = target.copy()
    ignored[:, :2] = 3
    got = float(gce(0.7, ignore_index=3)(torch.from_numpy(logits), torch.from_numpy(ignored)))
    keep = ignored != 3
    kept_logits = np.moveaxis(logits, 1, -1)[keep][..., None, None]  # (n, c, 1, 1)
    assert got == pytest.approx(gce_reference(kept_logits, target[keep][:, None, None], 0.7))

    # a voxel the network confidently disputes (p_y = 0.01: a lesion a classic mask
    # missed) pulls p_y ** q as hard as under the cross-entropy; one it agrees with the same
    def gradient(loss, p_label: float) -> float:
        z = torch.tensor([[[[np.log(p_label)]], [[np.log(1 - p_label)]]]], requires_grad=True)
        loss(z, torch.zeros((1, 1, 1, 1))).backward()
        return float(z.grad[0, 0, 0, 0])

    ce_loss = torch.nn.CrossEntropyLoss()

    def cross_entropy(z, t):
        return ce_loss(z, t[:, 0].long())

    for p_label in (0.01, 0.99):
        ratio = gradient(gce(0.7), p_label) / gradient(cross_entropy, p_label)
        assert ratio == pytest.approx(p_label**0.7, rel=1e-4)
    with pytest.raises(ValueError, match="q must lie"):
        gce(0.0)


@pytest.mark.parametrize("name", ["nnUNetTrainerGCE", "nnUNetTrainerShortEpochsFlairFirstAdamWGCE"])
def test_noisy_label_trainers_swap_only_the_cross_entropy_of_nnunets_loss(name):
    """The trainer's loss is nnU-Net's deep-supervised Dice + CE with the CE replaced:
    its value is nnU-Net's own soft Dice plus the generalised cross-entropy, summed over
    the outputs with nnU-Net's weights."""
    from types import SimpleNamespace

    import torch
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from wmhmap.nnunet.trainer_lookup import find_trainer_class

    cls = find_trainer_class(name)
    gce = cls._build_loss.__globals__["GeneralisedCrossEntropy"]
    parent = next(c for c in cls.__mro__[1:] if c.__name__ == name.removesuffix("GCE"))

    def stub(kind):
        trainer = object.__new__(kind)
        trainer.label_manager = SimpleNamespace(has_regions=False, ignore_label=None)
        trainer.configuration_manager = SimpleNamespace(
            batch_dice=True, pool_op_kernel_sizes=[[1, 1], [2, 2], [2, 2]]
        )
        trainer.is_ddp, trainer.enable_deep_supervision = False, True
        trainer.device = torch.device("cpu")
        return trainer

    ours, theirs = stub(cls)._build_loss(), stub(parent)._build_loss()
    assert isinstance(ours, DeepSupervisionWrapper)
    assert ours.weight_factors == theirs.weight_factors
    assert isinstance(ours.loss.ce, gce) and ours.loss.ce.q == 0.7
    assert type(theirs.loss.ce).__name__ == "RobustCrossEntropyLoss"  # nnU-Net's, untouched
    assert issubclass(cls, nnUNetTrainer)

    torch.manual_seed(0)
    scales = range(len(ours.weight_factors))
    assert len(scales) == 2 and ours.weight_factors[0] > 0
    outputs = [torch.randn(2, 2, 16 // 2**i, 16 // 2**i) for i in scales]
    targets = [(torch.rand(2, 1, 16 // 2**i, 16 // 2**i) > 0.7).float() for i in scales]
    expected = sum(
        w * (float(theirs.loss.dc(o, t)) + gce_reference(o.numpy(), t[:, 0].long().numpy(), 0.7))
        for w, o, t in zip(ours.weight_factors, outputs, targets, strict=True)
        if w
    )
    assert float(ours(outputs, targets)) == pytest.approx(expected, rel=1e-5)
