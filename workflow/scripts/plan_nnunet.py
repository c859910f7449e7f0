def main(log):
    from pathlib import Path

    from wmhmap.nnunet.env import configure, root_of

    folders = configure(root_of(snakemake.output.plans), threads=snakemake.threads)
    from wmhmap.nnunet.plans import plan_and_preprocess
    from wmhmap.nnunet.training import write_splits

    n = snakemake.params.nnunet
    dataset = snakemake.wildcards.dataset
    dataset_id = int(dataset[len("Dataset") : len("Dataset") + 3])
    source = Path(snakemake.input.source_plans[0]) if snakemake.input.source_plans else None
    plans = plan_and_preprocess(
        dataset_id,
        configuration=n["configuration"],
        plans_name=n["plans"],
        overrides=n["plans_overrides"],
        processes=snakemake.threads,
        source_plans=source,
    )
    splits = write_splits(
        Path(snakemake.output.splits).parent,
        folders.raw / dataset / "dataset.json",
        n["folds"],
        n["split_seed"],
    )
    log.info("planned %s -> %s, folds in %s", dataset, plans, splits)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
