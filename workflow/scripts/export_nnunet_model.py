import sys


def main(log):
    from pathlib import Path

    from wmhmap.nnunet.env import configure

    configure(snakemake.params.root)
    from wmhmap.nnunet.sharing import export_model

    n = snakemake.params.nnunet
    digest = export_model(
        snakemake.wildcards.dataset,
        Path(snakemake.output.zip),
        trainer=n["trainer"],
        plans=n["plans"],
        configuration=n["configuration"],
        folds=tuple(snakemake.params.folds),
    )
    log.info("exported %s (sha256 %s)", snakemake.output.zip, digest)


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
