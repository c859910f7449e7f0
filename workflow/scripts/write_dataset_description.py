import sys


def main(log):
    import json

    from wmhmap.derivatives import bidsignore, dataset_description
    from wmhmap.imageio import atomic_open

    description = dataset_description(snakemake.params.source or None)
    with atomic_open(snakemake.output.description) as fh:
        json.dump(description, fh, indent=2)
        fh.write("\n")
    with atomic_open(snakemake.output.bidsignore) as fh:
        fh.write(bidsignore())
    log.info("%s", description["GeneratedBy"][0])


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
