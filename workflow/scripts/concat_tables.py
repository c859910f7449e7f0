def main(log):
    import pandas as pd

    from wmhmap.imageio import atomic_open

    tables = [
        pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        for path in snakemake.input.tables
    ]
    with atomic_open(snakemake.output[0]) as fh:
        pd.concat(tables, ignore_index=True).to_csv(fh, sep="\t", index=False)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
