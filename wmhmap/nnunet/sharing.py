"""Exporting and importing trained models as nnU-Net zips with a sha256 beside them.

``export_model`` wraps nnU-Net's ``export_pretrained_model`` and writes
``<zip>.sha256`` (``sha256sum`` format). ``install_model`` refuses a zip whose
checksum does not match, or whose members would land outside the target folder,
before nnU-Net extracts it.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

from wmhmap.errors import InputError


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.name + ".sha256")


def write_checksum(zip_path: Path) -> str:
    value = sha256_of(zip_path)
    checksum_path(zip_path).write_text(f"{value}  {zip_path.name}\n")
    return value


def verify_checksum(zip_path: Path, expected: str | None = None) -> str:
    """Check ``zip_path`` against ``expected`` or its ``.sha256`` file; return the digest."""
    if not zip_path.is_file():
        raise InputError("model zip not found", file=zip_path, fix="check models.*.pretrained in the config")
    if expected is None:
        side = checksum_path(zip_path)
        if not side.is_file():
            raise InputError(
                "model zip has no .sha256 file beside it",
                file=zip_path,
                fix=f"put the checksum from the model's publisher in {side.name} (sha256sum format), "
                "or set models.<name>.sha256 in the config",
            )
        expected = side.read_text().split()[0]
    actual = sha256_of(zip_path)
    if actual.lower() != expected.strip().lower():
        raise InputError(
            f"model zip checksum {actual} differs from the expected {expected.strip()}",
            file=zip_path,
            fix="the file is corrupt or has been changed; download or copy it again",
        )
    return actual


def model_folders_in_zip(zip_path: Path) -> list[str]:
    """``DatasetXXX_Name/Trainer__Plans__config`` folders an nnU-Net zip installs."""
    with zipfile.ZipFile(zip_path) as zf:
        folders = set()
        for name in zf.namelist():
            parts = Path(name).parts
            if Path(name).is_absolute() or ".." in parts:
                raise InputError(
                    f"model zip member {name!r} would be written outside the model folder",
                    file=zip_path,
                    fix="do not use this file; it is not an nnU-Net export",
                )
            if len(parts) >= 3 and parts[0].startswith("Dataset"):
                folders.add(f"{parts[0]}/{parts[1]}")
    return sorted(folders)


def export_model(
    dataset: str,
    output: Path,
    *,
    trainer: str,
    plans: str,
    configuration: str,
    folds: tuple[int, ...],
) -> str:
    """nnU-Net's zip export of trained folds (final checkpoints only) plus its sha256.

    The zip appears only once complete; returns its sha256.
    """
    from nnunetv2.model_sharing.model_export import export_pretrained_model

    from wmhmap.imageio import atomic_path

    with atomic_path(output) as tmp:
        _export(export_pretrained_model, dataset, tmp, trainer, plans, configuration, folds)
    return write_checksum(output)


def _export(
    export_pretrained_model: Any,
    dataset: str,
    output: Path,
    trainer: str,
    plans: str,
    configuration: str,
    folds: tuple[int, ...],
) -> None:
    export_pretrained_model(
        dataset,
        str(output),
        configurations=(configuration,),
        trainer=trainer,
        plans_identifier=plans,
        folds=folds,
        strict=True,
        save_checkpoints=("checkpoint_final.pth",),
        export_crossval_predictions=False,
    )


def install_model(zip_path: Path, expected_sha256: str | None = None) -> list[str]:
    """Verify and install a model zip into ``nnUNet_results``; return its model folders."""
    from nnunetv2.model_sharing.model_import import install_model_from_zip_file

    verify_checksum(zip_path, expected_sha256)
    folders = model_folders_in_zip(zip_path)
    if not folders:
        raise InputError(
            "zip holds no DatasetXXX_Name/<trainer>__<plans>__<configuration> folder",
            file=zip_path,
            fix="export models with `wmhmap export-model` or nnUNetv2_export_model_to_zip",
        )
    install_model_from_zip_file(str(zip_path))
    return folders
