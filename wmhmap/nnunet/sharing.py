"""Exporting and importing trained models as nnU-Net zips with a sha256 beside them.

``export_model`` writes nnU-Net's zip layout and ``<zip>.sha256`` (``sha256sum``
format). ``install_model`` refuses a zip whose
checksum does not match, or whose members would land outside the target folder,
before nnU-Net extracts it.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

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
        raise InputError(
            "model zip not found", file=zip_path, fix="check models.*.pretrained in the config"
        )
    if expected is None:
        side = checksum_path(zip_path)
        if not side.is_file():
            raise InputError(
                "model zip has no .sha256 file beside it",
                file=zip_path,
                fix=f"put the publisher's checksum in {side.name} (sha256sum format), "
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
    model_folder: Path,
    output: Path,
    *,
    folds: tuple[int, ...],
) -> str:
    """Zip trained folds in the layout of nnU-Net's ``nnUNetv2_export_model_to_zip``.

    ``model_folder`` is ``<nnUNet_results>/DatasetXXX_Name/Trainer__Plans__config``.
    Each fold contributes its final checkpoint, ``progress.png`` and, when the fold
    was validated, ``validation/summary.json`` (nnU-Net's own exporter requires that
    summary, which a workflow run with ``nnunet.validate: false`` does not produce).
    The zip installs with ``nnUNetv2_install_pretrained_model_from_zip``; it appears
    only once complete, and its sha256 is returned and written beside it.
    """
    from wmhmap.imageio import atomic_path

    model_folder = Path(model_folder)
    results = model_folder.parent.parent
    members: list[Path] = [
        model_folder / name for name in ("plans.json", "dataset.json", "dataset_fingerprint.json")
    ]
    for fold in folds:
        fold_dir = model_folder / f"fold_{fold}"
        members.append(fold_dir / "checkpoint_final.pth")
        members += [
            fold_dir / optional
            for optional in ("progress.png", "debug.json", "validation/summary.json")
            if (fold_dir / optional).is_file()
        ]
    missing = [m for m in members if not m.is_file()]
    if missing:
        raise InputError(
            f"cannot export the model: {len(missing)} file(s) missing, first {missing[0]}",
            file=model_folder,
            fix="train every fold to the end (checkpoint_final.pth) before exporting",
        )
    with atomic_path(output) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for member in members:
            zf.write(member, member.relative_to(results).as_posix())
    return write_checksum(output)


def model_manifest(model_folder: Path, folds: tuple[int, ...]) -> dict[str, object]:
    """What identifies a trained model: its nnU-Net folder and each fold's checksum.

    ``model_folder`` is ``<nnUNet_results>/DatasetXXX_Name/Trainer__Plans__config``.
    Segmentation sidecars carry these checksums, so a mask can be traced to the exact
    weights that made it.
    """
    model_folder = Path(model_folder)
    trainer, plans, configuration = model_folder.name.split("__")
    checkpoints = {}
    for fold in folds:
        checkpoint = model_folder / f"fold_{fold}" / "checkpoint_final.pth"
        if not checkpoint.is_file():
            raise InputError(
                f"fold {fold} has no final checkpoint",
                file=checkpoint,
                fix="train every fold to the end before segmenting with the model",
            )
        checkpoints[str(fold)] = sha256_of(checkpoint)
    return {
        "folder": str(model_folder),
        "dataset": model_folder.parent.name,
        "trainer": trainer,
        "plans": plans,
        "configuration": configuration,
        "checkpoint_sha256": checkpoints,
    }


def model_checksums(record: Path) -> dict[str, str]:
    """The checksums a segmentation used: a trained model's manifest (JSON: one per
    fold) or an installed zip's ``.sha256`` line (the zip's)."""
    import json

    text = Path(record).read_text()
    if Path(record).suffix == ".json":
        return {f"fold_{k}": v for k, v in json.loads(text)["checkpoint_sha256"].items()}
    return {"zip": text.split()[0]}


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
