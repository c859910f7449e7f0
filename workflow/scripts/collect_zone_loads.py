def main(log):
    from wmhmap.loads import cohort_wide, read_loads_tsv, write_loads_tsv

    scheme = snakemake.wildcards.scheme
    tables = [read_loads_tsv(path) for path in snakemake.input.loads]
    wide = cohort_wide(tables, scheme=scheme)
    write_loads_tsv(wide, snakemake.output.wide)
    log.info("%s loads of %d subjects in %d zones", scheme, len(wide), wide.shape[1] - 3)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
