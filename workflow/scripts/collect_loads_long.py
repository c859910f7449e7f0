def main(log):
    from wmhmap.intervals import held_out_coverage, with_intervals
    from wmhmap.loads import cohort_long, read_loads_tsv, write_loads_tsv

    calibration = read_loads_tsv(snakemake.input.calibration, columns=["scheme", "quantile"])
    tables = [read_loads_tsv(path) for path in snakemake.input.loads]
    long = with_intervals(cohort_long(tables), calibration)
    write_loads_tsv(long, snakemake.output[0])
    # the check on subjects the calibration never saw: held out, with an expert mask
    for row in held_out_coverage(long).itertuples():
        log.info(
            "%s: the intervals hold the expert's load in %.0f %% of %d rows of held-out "
            "subjects (expert or measured load non-zero)",
            row.scheme,
            100 * row.covered,
            row.pairs,
        )
    log.info("regional loads of %d subjects", len(tables))


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
