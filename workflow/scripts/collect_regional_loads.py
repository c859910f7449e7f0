import sys


def main(log):
    import pandas as pd

    from wmhmap.loads import (
        cohort_long,
        cohort_wide,
        read_loads_tsv,
        summarize_loads,
        write_loads_tsv,
    )

    tables = [read_loads_tsv(path) for path in snakemake.input.loads]
    write_loads_tsv(cohort_long(tables), snakemake.output.long)
    write_loads_tsv(cohort_wide(tables), snakemake.output.wide)
    summaries = []
    for table in tables:
        icv = (
            table["lesion_mm3"].sum() / table["lesion_per_icv"].sum()
            if table["lesion_per_icv"].sum() > 0
            else None
        )
        summaries.append(summarize_loads(table, icv_mm3=icv))
    write_loads_tsv(pd.concat(summaries, ignore_index=True), snakemake.output.summary)
    log.info("regional loads of %d subjects", len(tables))


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
