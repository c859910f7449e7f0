def main(log):
    from wmhmap.imageio import atomic_open
    from wmhmap.samplesheet import cohort_table

    samples, o = snakemake.params.samples, snakemake.output
    for path, visits in ((o.visits, None), (o.statistics, snakemake.params.statistics)):
        table = cohort_table(samples, visits)
        with atomic_open(path) as fh:
            table.to_csv(fh, sep="\t", index=False)
        log.info("%s: %d visits", path, len(table))


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
