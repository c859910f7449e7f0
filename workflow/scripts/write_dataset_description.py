def main(log):
    import json

    from wmhmap.derivatives import bidsignore, dataset_description, dseg_lookup
    from wmhmap.imageio import atomic_open
    from wmhmap.regions import load_region_table

    description = dataset_description(snakemake.params.source or None)
    with atomic_open(snakemake.output.description) as fh:
        json.dump(description, fh, indent=2)
        fh.write("\n")
    with atomic_open(snakemake.output.bidsignore) as fh:
        fh.write(bidsignore())
    lookup = dseg_lookup(load_region_table(snakemake.input.table))
    for path in snakemake.output.lookups:
        with atomic_open(path) as fh:
            lookup.to_csv(fh, sep="\t", index=False)
    log.info("%s; %d region labels", description["GeneratedBy"][0], len(lookup))


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
