def main(log):
    from pathlib import Path

    from wmhmap.nnunet.sharing import export_model

    # inputs are <model folder>/fold_<k>/checkpoint_final.pth
    folder = Path(snakemake.input[0]).parent.parent
    digest = export_model(folder, Path(snakemake.output.zip), folds=tuple(snakemake.params.folds))
    log.info("exported %s (sha256 %s)", snakemake.output.zip, digest)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
