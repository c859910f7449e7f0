def main(log):
    import pandas as pd

    from wmhmap.loads import SUMMARY_COLUMNS, cohort_wide, read_loads_tsv, write_loads_tsv

    tables = [read_loads_tsv(path) for path in snakemake.input.loads]
    write_loads_tsv(cohort_wide(tables), snakemake.output.wide)
    summaries = [
        read_loads_tsv(path, columns=SUMMARY_COLUMNS) for path in snakemake.input.summaries
    ]
    write_loads_tsv(pd.concat(summaries, ignore_index=True), snakemake.output.summary)
    log.info("regional loads of %d subjects", len(tables))


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
