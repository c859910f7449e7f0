"""Inference with a trained nnU-Net model, per modality and per fold, and their fusion.

At inference each model predicts from FLAIR and from T1w separately; the softmax
probabilities are averaged (``mean`` fusion) or one modality's are used (``flair``,
``t1``), and the argmax gives the label map.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt

from wmhmap.errors import InputError
from wmhmap.nnunet.trainer_lookup import find_trainer_class

FUSIONS = ("flair", "t1", "mean")
FUSION_MODALITIES = {"flair": ("FLAIR",), "t1": ("T1w",), "mean": ("FLAIR", "T1w")}


def fuse_probabilities(
    probabilities: Mapping[str, npt.NDArray[np.floating]], fusion: str
) -> tuple[npt.NDArray[np.float32], list[str]]:
    """Combine per-modality softmax maps (each (classes, x, y, z)).

    ``flair`` / ``t1`` use that modality alone and ``mean`` averages what is
    available. When a modality the fusion asks for is missing, the other is used and
    returned in the list of modalities actually used, so the caller can flag it.

    Examples
    --------
    >>> f = np.array([[0.2, 0.9]]).T.reshape(2, 1, 1, 1)  # P(bg), P(lesion) of one voxel
    >>> t = np.array([[0.6, 0.4]]).T.reshape(2, 1, 1, 1)
    >>> fused, used = fuse_probabilities({"FLAIR": f, "T1w": t}, "mean")
    >>> [round(float(p), 2) for p in fused.ravel()], used
    ([0.4, 0.65], ['FLAIR', 'T1w'])
    >>> fuse_probabilities({"T1w": t}, "flair")[1]
    ['T1w']
    """
    if fusion not in FUSIONS:
        raise InputError(f"unknown fusion {fusion!r}", fix=f"use one of {', '.join(FUSIONS)}")
    if not probabilities:
        raise InputError("no modality was predicted", fix="give at least one image")
    wanted = [m for m in FUSION_MODALITIES[fusion] if m in probabilities]
    used = wanted or sorted(probabilities)
    stack = np.stack([np.asarray(probabilities[m], dtype=np.float32) for m in used])
    return stack.mean(axis=0), used


def labels_from_probabilities(probabilities: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:
    """Argmax over the class axis (axis 0)."""
    return np.asarray(np.argmax(probabilities, axis=0), dtype=np.uint8)


def quantize_probability(p: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:
    """P(WMH) as uint8 in steps of 1/255 that stays on its side of 0.5.

    Plain rounding stores p in [0.498, 0.5] as 128/255 = 0.502, above the masks'
    threshold. Where the folds of an ensemble disagree (one says lesion, one not) p
    sits right at 0.5, so a map read back and thresholded at 0.5 counted voxels the
    mask (argmax) leaves out: 40 % more lesion voxels in a 2-fold demo run. Here a
    stored value is >= 0.5 exactly when p > 0.5, which for two classes is the argmax.

    >>> quantize_probability(np.array([0.0, 0.4999, 0.5, 0.5001, 0.7, 1.0]))
    array([  0, 127, 127, 128, 178, 255], dtype=uint8)
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    q = np.rint(p * 255)
    return np.where(p > 0.5, np.maximum(q, 128), np.minimum(q, 127)).astype(np.uint8)


def predicted_volumes(
    stack: npt.NDArray[np.generic], sidecar: Mapping[str, Any]
) -> dict[str, npt.NDArray[np.generic]]:
    """The volumes of a ``desc-*modalities`` image (last axis: one per modality) that
    were predicted, by modality, as its JSON sidecar lists them; a modality the subject
    lacks (stored as zeros) is left out.

    >>> stack = np.stack([np.ones((2, 2)), np.zeros((2, 2))], axis=-1)
    >>> sorted(predicted_volumes(stack, {"modality_volumes": ["FLAIR", "T1w"],
    ...                                  "modalities_predicted": ["FLAIR"]}))
    ['FLAIR']
    """
    return {
        m: stack[..., i]
        for i, m in enumerate(sidecar["modality_volumes"])
        if m in sidecar["modalities_predicted"]
    }


@dataclass
class LoadedModel:
    """A trained model ready to predict: network, nnU-Net managers and fold weights."""

    predictor: Any
    plans_manager: Any
    configuration_manager: Any
    dataset_json: dict[str, Any]
    fold_parameters: list[dict[str, Any]]
    folds: list[int]
    input_mode: str

    @property
    def n_channels(self) -> int:
        return len(self.dataset_json["channel_names"])


def available_folds(model_dir: Path) -> list[int]:
    folds = []
    for fold_dir in sorted(model_dir.glob("fold_*")):
        suffix = fold_dir.name.removeprefix("fold_")
        if suffix.isdigit() and (fold_dir / "checkpoint_final.pth").is_file():
            folds.append(int(suffix))
    return folds


def load_model(
    model_dir: Path,
    *,
    device: str,
    folds: Sequence[int] | None = None,
    tta: bool = False,
    tile_step_size: float = 0.5,
    batch_size: int | None = None,
) -> LoadedModel:
    """Load the folds of a trained model without nnU-Net's recursive trainer lookup.

    The sliding window runs ``batch_size`` patches per network pass (None: as many as
    :func:`wmhmap.nnunet.predictor.patches_per_batch` gives for the device; 1 is nnU-Net's
    own one-patch-at-a-time).
    """
    import torch
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from wmhmap.nnunet.predictor import BatchedPredictor

    folds = list(folds) if folds is not None else available_folds(model_dir)
    if not folds:
        raise InputError(
            "no trained fold (fold_*/checkpoint_final.pth) in the model folder",
            file=model_dir,
            fix="train the model first, or point the config at an exported model zip",
        )
    dataset_json = json.loads((model_dir / "dataset.json").read_text())
    plans_manager = PlansManager(json.loads((model_dir / "plans.json").read_text()))
    parameters, trainer_name, configuration, mirroring = [], None, None, None
    for fold in folds:
        checkpoint = torch.load(
            model_dir / f"fold_{fold}" / "checkpoint_final.pth",
            map_location="cpu",
            weights_only=False,
        )
        if trainer_name is None:
            trainer_name = checkpoint["trainer_name"]
            configuration = checkpoint["init_args"]["configuration"]
            mirroring = checkpoint.get("inference_allowed_mirroring_axes")
        parameters.append(checkpoint["network_weights"])
    assert trainer_name is not None and configuration is not None
    configuration_manager = plans_manager.get_configuration(configuration)
    trainer_class = find_trainer_class(trainer_name)
    network = trainer_class.build_network_architecture(
        plans_manager,
        configuration_manager,
        determine_num_input_channels(plans_manager, configuration_manager, dataset_json),
        plans_manager.get_label_manager(dataset_json).num_segmentation_heads,
        enable_deep_supervision=False,
    )
    network.load_state_dict(parameters[0])
    predictor = BatchedPredictor(
        batch_size=batch_size,
        tile_step_size=tile_step_size,
        use_gaussian=True,
        use_mirroring=tta,
        perform_everything_on_device=device != "cpu",
        device=torch.device(device),
        verbose=False,
        verbose_preprocessing=False,
        allow_tqdm=False,
    )
    predictor.manual_initialization(
        network,
        plans_manager,
        configuration_manager,
        parameters,
        dataset_json,
        trainer_name,
        mirroring,
    )
    return LoadedModel(
        predictor=predictor,
        plans_manager=plans_manager,
        configuration_manager=configuration_manager,
        dataset_json=dataset_json,
        fold_parameters=parameters,
        folds=folds,
        input_mode=str(dataset_json.get("input_mode", "single_channel")),
    )


def predict_probabilities(
    model: LoadedModel, channels: Sequence[nib.Nifti1Image], *, per_fold: bool = False
) -> npt.NDArray[np.float32]:
    """Softmax probabilities on the grid of ``channels[0]``.

    Returns (classes, x, y, z), the mean over folds; with ``per_fold`` (folds,
    classes, x, y, z). Images are passed in memory in nnU-Net's NibabelIO axis order,
    so no temporary files are written.
    """
    import torch
    from nnunetv2.inference.export_prediction import (
        convert_predicted_logits_to_segmentation_with_correct_shape,
    )

    if len(channels) != model.n_channels:
        raise InputError(
            f"model expects {model.n_channels} channel(s), got {len(channels)}",
            fix="check the model's input mode (single_channel vs multichannel)",
        )
    reference = channels[0]
    data = np.stack([np.asarray(c.dataobj, dtype=np.float32).transpose(2, 1, 0) for c in channels])
    properties: dict[str, Any] = {
        "spacing": [float(z) for z in reference.header.get_zooms()[:3][::-1]],
        "nibabel_stuff": {"original_affine": reference.affine},
    }
    preprocessor = model.configuration_manager.preprocessor_class(verbose=False)
    data, _, properties = preprocessor.run_case_npy(
        data, None, properties, model.plans_manager, model.configuration_manager, model.dataset_json
    )
    tensor = torch.from_numpy(np.ascontiguousarray(data))
    label_manager = model.plans_manager.get_label_manager(model.dataset_json)
    groups = [[p] for p in model.fold_parameters] if per_fold else [model.fold_parameters]
    outputs = []
    for params in groups:
        model.predictor.list_of_parameters = params
        logits = model.predictor.predict_logits_from_preprocessed_data(tensor).cpu()
        _, probs = convert_predicted_logits_to_segmentation_with_correct_shape(
            logits,
            model.plans_manager,
            model.configuration_manager,
            label_manager,
            properties,
            return_probabilities=True,
        )
        outputs.append(np.asarray(probs, dtype=np.float32).transpose(0, 3, 2, 1))
    model.predictor.list_of_parameters = model.fold_parameters
    return np.stack(outputs) if per_fold else outputs[0]


@dataclass
class Segmentation:
    """One model's output for one subject, on the grid of its images."""

    probabilities: npt.NDArray[np.float32]
    """Fused softmax, (classes, x, y, z)."""
    per_modality: dict[str, npt.NDArray[np.float32]]
    """Fold-ensembled softmax from each modality alone (single-channel models)."""
    per_fold: npt.NDArray[np.float32] | None
    """Fused softmax of each fold alone, (folds, classes, x, y, z), when asked for."""
    used: list[str]
    missing: list[str]

    @property
    def labels(self) -> npt.NDArray[np.uint8]:
        return labels_from_probabilities(self.probabilities)


def restrict_to(segmentation: Segmentation, allowed: npt.ArrayLike) -> Segmentation:
    """``segmentation`` with every voxel outside ``allowed`` made background, in the
    fused, per-modality and per-fold maps alike (probability 1 for class 0), so each map
    still thresholds back to its label map.

    >>> p = np.array([[[[0.2, 0.2]]], [[[0.8, 0.8]]]], dtype=np.float32)  # 2 classes, 1x1x2
    >>> kept = restrict_to(Segmentation(p, {"FLAIR": p}, None, ["FLAIR"], []), [[[True, False]]])
    >>> kept.labels.tolist(), kept.per_modality["FLAIR"][1].tolist()
    ([[[1, 0]]], [[[0.800000011920929, 0.0]]])
    """
    outside = ~np.asarray(allowed, dtype=bool)

    def cleared(probabilities: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = probabilities.copy()  # (…, classes, x, y, z)
        out[..., outside] = 0.0
        out[..., 0, :, :, :][..., outside] = 1.0
        return out

    return Segmentation(
        cleared(segmentation.probabilities),
        {m: cleared(p) for m, p in segmentation.per_modality.items()},
        None if segmentation.per_fold is None else cleared(segmentation.per_fold),
        segmentation.used,
        segmentation.missing,
    )


def segment(
    model: LoadedModel,
    images: Mapping[str, nib.Nifti1Image],
    *,
    fusion: str,
    per_fold: bool = False,
    subject: str | None = None,
) -> Segmentation:
    """Predict with every fold from each modality and fuse (see :func:`fuse_probabilities`).

    A subject lacking a modality the fusion asks for is segmented from the other one;
    ``missing`` names what was absent so the caller can flag it.
    """
    if model.input_mode == "multichannel":
        absent = [m for m in ("FLAIR", "T1w") if m not in images]
        if absent:
            raise InputError(
                f"the multichannel model needs FLAIR and T1w; {', '.join(absent)} is missing",
                subject=subject,
                fix="use a single_channel model for subjects with one modality",
            )
        probs = predict_probabilities(model, [images["FLAIR"], images["T1w"]], per_fold=per_fold)
        mean = probs.mean(axis=0) if per_fold else probs
        return Segmentation(mean, {}, probs if per_fold else None, ["FLAIR", "T1w"], [])
    per_modality, folds = {}, {}
    for modality, image in images.items():
        probs = predict_probabilities(model, [image], per_fold=per_fold)
        folds[modality] = probs if per_fold else None
        per_modality[modality] = probs.mean(axis=0) if per_fold else probs
    fused, used = fuse_probabilities(per_modality, fusion)
    per_fold_fused = None
    if per_fold:
        per_fold_fused = np.stack([folds[m] for m in used]).mean(axis=0)  # type: ignore[misc]
    missing = [m for m in FUSION_MODALITIES[fusion] if m not in images]
    return Segmentation(fused, per_modality, per_fold_fused, used, missing)
