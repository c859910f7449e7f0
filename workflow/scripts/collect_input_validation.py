def main(log):
    import json
    from pathlib import Path

    from wmhmap.imageio import atomic_open
    from wmhmap.validation import validation_table

    table = validation_table([json.loads(Path(p).read_text()) for p in snakemake.input])
    failed = table[table.status != "ok"]
    for path, rows in ((snakemake.output.table, table), (snakemake.output.failed, failed)):
        with atomic_open(path) as fh:
            rows.to_csv(fh, sep="\t", index=False)
    if len(failed):
        log.warning(
            "%d of %d subjects failed input validation and are left out of the cohort tables: %s",
            len(failed),
            len(table),
            ", ".join(failed.subject),
        )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
