import sys


def main(log):
    from wmhmap.imageio import atomic_open
    from wmhmap.samplesheet import cohort_table

    table = cohort_table(snakemake.params.samples)
    with atomic_open(snakemake.output[0]) as fh:
        table.to_csv(fh, sep="\t", index=False)
    log.info("%d rows written", len(table))


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
