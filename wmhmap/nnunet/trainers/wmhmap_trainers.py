"""wmhmap's nnU-Net trainers. This folder is nnU-Net's ``nnUNet_extTrainer``.

Keep this module free of imports beyond nnU-Net's base trainer and torch: nnU-Net
imports every module in the folder while looking for a trainer by name.
"""

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainerShortEpochs(nnUNetTrainer):
    """nnU-Net's default trainer with short epochs: 25 training and 5 validation iterations.

    The one change: epoch length. A CPU training of a few minutes then still runs
    enough epochs for the poly learning-rate schedule, logging and checkpoints (so a
    killed job resumes close to where it stopped). Everything else -- loss,
    augmentation, optimiser, deep supervision -- is nnU-Net's default. The number of
    epochs is set by the workflow (``nnunet.epochs``).
    """

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),  # noqa: B008 (nnU-Net's signature)
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_iterations_per_epoch = 25
        self.num_val_iterations_per_epoch = 5
