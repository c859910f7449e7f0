"""The ``wmhmap`` command: the workflow's building blocks for one subject or file.

Subcommands
-----------
build-atlas   merge a JHU type II label map into the 34 regions
validate      check a sample sheet (and optionally every image in it)
loads         regional lesion loads of one lesion mask + region map
evaluate      WMH-challenge metrics of one prediction against a reference
export-model  export a trained nnU-Net model as a zip with its sha256
import-model  verify a model zip's sha256 and install it into an nnU-Net folder
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from wmhmap import __version__
from wmhmap.errors import InputError, WmhmapError


def _build_atlas(args: argparse.Namespace) -> int:
    import numpy as np

    from wmhmap.atlas import build_atlas_labels
    from wmhmap.imageio import load_image, save_image
    from wmhmap.regions import load_region_table

    table = load_region_table(args.table)
    labels = load_image(args.labels, role="JHU type II labels", dtype=None)
    merged = build_atlas_labels(labels, table, file=args.labels)
    save_image(merged, args.output)
    present = set(np.unique(merged.dataobj).astype(int).tolist())
    found = sorted(present & set(table.ids.tolist()))
    other = " and other white matter (35/36)" if present & {35, 36} else ""
    print(
        f"wrote {args.output}: {len(found)} regions ({found[0]}..{found[-1]}){other}"
        if found
        else f"wrote {args.output}: no region labels found"
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from wmhmap.bidsdataset import BidsSelection, discover
    from wmhmap.samplesheet import cohort_table, load_samplesheet, modalities, validate_samplesheet
    from wmhmap.validation import validate_subject

    if (args.samplesheet is None) == (args.bids is None):
        raise SystemExit("give a sample sheet or --bids DATASET (one of them)")
    if args.bids is not None:
        selection = BidsSelection(
            participant_label=args.participant_label or (),
            session_label=args.session_label or (),
        )
        sheet = validate_samplesheet(
            discover(args.bids, selection), file=args.bids / "participants.tsv"
        )
        source = str(args.bids)
    else:
        sheet = load_samplesheet(args.samplesheet, allowed_root=args.dataset_root)
        source = str(args.samplesheet)
    kinds = sheet.apply(lambda row: " + ".join(modalities(row)), axis=1).value_counts()
    print(
        f"{source}: {sheet['subject'].nunique()} subjects, {len(sheet)} visits "
        f"({', '.join(f'{k}: {n}' for k, n in kinds.items())}); columns and files OK"
    )
    if args.output is not None:
        cohort_table(sheet).to_csv(args.output, sep="\t", index=False)
        print(f"wrote {args.output}")
    if args.images:
        for visit, row in sheet.iterrows():
            validate_subject({**{str(k): v for k, v in row.items()}, "subject": visit})
            print(f"  {visit}: images OK")
    return 0


def _loads(args: argparse.Namespace) -> int:
    from wmhmap.loads import regional_loads_from_files, summarize_loads, write_loads_tsv
    from wmhmap.regions import load_region_table

    table = load_region_table(args.table)
    long = regional_loads_from_files(
        args.lesion, args.regions, table, subject=args.subject, icv_mm3=args.icv_mm3
    )
    summary = summarize_loads(long, icv_mm3=args.icv_mm3)
    if args.output:
        write_loads_tsv(long, args.output)
    columns = ["region_id", "region_name", "hemisphere", "lesion_mm3", "lesion_count"]
    print(long[columns].to_string(index=False))
    print(summary.to_string(index=False))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from wmhmap.metrics import evaluate_segmentation_from_files

    scores = evaluate_segmentation_from_files(args.reference, args.prediction, subject=args.subject)
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in scores.items()}
    print(json.dumps(clean, indent=2))
    return 0


def _export_model(args: argparse.Namespace) -> int:
    from wmhmap.nnunet.env import configure

    configure(args.nnunet_root)
    from wmhmap.nnunet.inference import available_folds
    from wmhmap.nnunet.sharing import export_model
    from wmhmap.nnunet.training import model_folder

    dataset_dir = args.nnunet_root.resolve() / "models" / args.dataset
    if args.trainer and args.plans and args.configuration:
        folder = model_folder(
            dataset_dir.parent, args.dataset, args.trainer, args.plans, args.configuration
        )
    else:
        trained = sorted(p for p in dataset_dir.glob("*__*__*") if p.is_dir())
        if not trained:
            raise InputError(
                "no trained model in the dataset folder",
                file=dataset_dir,
                fix="check --dataset and --nnunet-root, or train the model first",
            )
        if len(trained) > 1:
            raise InputError(
                f"{len(trained)} trained models in the dataset folder, cannot tell which to export",
                file=dataset_dir,
                fix="name it with --trainer, --plans and --configuration",
            )
        folder = trained[0]
    folds = tuple(args.folds) if args.folds else tuple(available_folds(folder))
    digest = export_model(folder, args.output, folds=folds)
    print(f"wrote {args.output} (folds {', '.join(map(str, folds))}) sha256 {digest}")
    return 0


def _import_model(args: argparse.Namespace) -> int:
    from wmhmap.nnunet.env import configure

    folders = configure(args.nnunet_root)
    from wmhmap.nnunet.sharing import install_model

    installed = install_model(args.zip, args.sha256)
    for name in installed:
        print(f"installed {folders.results / name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wmhmap", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"wmhmap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build-atlas", help="merge a JHU type II label map into the 34 regions")
    p.add_argument("--labels", required=True, type=Path, help="JHU_MNI_SS_WMPM_Type-II.nii.gz")
    p.add_argument(
        "--output", required=True, type=Path, help="merged 34-region label map (.nii.gz)"
    )
    p.add_argument(
        "--table", type=Path, default=None, help="region table TSV (default: the refined JHU table)"
    )
    p.set_defaults(func=_build_atlas)

    p = sub.add_parser("validate", help="check a sample sheet or BIDS dataset (and its images)")
    p.add_argument("samplesheet", type=Path, nargs="?", default=None)
    p.add_argument("--bids", type=Path, default=None, help="a BIDS dataset instead of a sheet")
    p.add_argument("--participant-label", nargs="+", help="with --bids: only these subjects")
    p.add_argument("--session-label", nargs="+", help="with --bids: only these sessions")
    p.add_argument("--output", type=Path, default=None, help="write the cohort as a TSV")
    p.add_argument("--images", action="store_true", help="also read and check every image")
    p.add_argument(
        "--dataset-root", type=Path, default=None, help="refuse paths outside this folder"
    )
    p.set_defaults(func=_validate)

    p = sub.add_parser("loads", help="regional lesion loads of one subject")
    p.add_argument("--lesion", required=True, type=Path, help="binary lesion mask")
    p.add_argument("--regions", required=True, type=Path, help="region label map on the same grid")
    p.add_argument("--table", type=Path, default=None, help="region table TSV")
    p.add_argument("--subject", default="subject")
    p.add_argument(
        "--icv-mm3", type=float, default=None, help="intracranial volume for normalised loads"
    )
    p.add_argument("--output", type=Path, default=None, help="write the long table as TSV")
    p.set_defaults(func=_loads)

    p = sub.add_parser(
        "evaluate", help="Dice, HD95, AVD, lesion recall and F1 (MICCAI 2017 WMH challenge)"
    )
    p.add_argument(
        "--reference",
        required=True,
        type=Path,
        help="reference mask (1 = WMH, 2 = other pathology)",
    )
    p.add_argument(
        "--prediction", required=True, type=Path, help="predicted mask or probability map"
    )
    p.add_argument("--subject", default=None)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("export-model", help="export a trained nnU-Net model (zip + sha256)")
    p.add_argument("--dataset", required=True, help="e.g. Dataset501_WMHLesion")
    p.add_argument("--output", required=True, type=Path, help="zip to write")
    p.add_argument("--nnunet-root", type=Path, default=Path("results/nnunet"))
    p.add_argument("--trainer", help="default: the dataset's only trained model")
    p.add_argument("--plans")
    p.add_argument("--configuration")
    p.add_argument("--folds", type=int, nargs="*", help="default: every trained fold")
    p.set_defaults(func=_export_model)

    p = sub.add_parser("import-model", help="verify a model zip's sha256 and install it")
    p.add_argument("zip", type=Path)
    p.add_argument("--sha256", default=None, help="expected checksum (default: <zip>.sha256)")
    p.add_argument("--nnunet-root", type=Path, default=Path("results/nnunet"))
    p.set_defaults(func=_import_model)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except WmhmapError as err:
        print(f"wmhmap error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
