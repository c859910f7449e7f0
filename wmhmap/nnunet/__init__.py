"""nnU-Net v2 for the lesion and region models: datasets, planning, training, inference.

nnU-Net is used through its Python API, with two deliberate detours:

* trainer classes are resolved by :func:`wmhmap.nnunet.trainer_lookup.find_trainer_class`
  -- wmhmap's own trainers and nnU-Net's default first, nnU-Net's recursive lookup
  last -- because that lookup imports every trainer module nnU-Net ships, including
  the Primus trainers (timm -> torchvision), which crash on CPU-only installs where
  the PyPI torchvision does not match the CPU torch;
* inference builds the network and calls ``nnUNetPredictor.manual_initialization``
  for the same reason, then keeps per-fold and per-modality probabilities so that
  FLAIR-only, T1w-only and mean fusion, and per-fold uncertainty, all come from one
  pass.

Set nnU-Net's folders with :func:`wmhmap.nnunet.env.configure` *before* importing
anything from ``nnunetv2`` (it reads its environment at import time).
"""
