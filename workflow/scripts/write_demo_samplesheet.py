def main(log):
    import json

    from wmhmap.demo.cohort import samplesheet_with_references
    from wmhmap.imageio import atomic_open

    truths = [json.load(open(path)) for path in snakemake.input.truth]
    sheet = samplesheet_with_references(snakemake.params.samples, truths, snakemake.params.seed)
    with atomic_open(snakemake.output[0]) as fh:
        sheet.to_csv(fh, sep="\t", index=False)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
