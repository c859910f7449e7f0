def main(log):
    import json
    from pathlib import Path

    from wmhmap.imageio import atomic_open
    from wmhmap.nnunet.sharing import model_manifest

    # inputs are <model folder>/fold_<k>/checkpoint_final.pth
    folder = Path(snakemake.input[0]).parent.parent
    manifest = model_manifest(folder, folds=tuple(snakemake.params.folds))
    with atomic_open(snakemake.output[0]) as fh:
        json.dump(manifest, fh, indent=2)
    log.info("%s: folds %s", folder, ", ".join(manifest["checkpoint_sha256"]))


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
