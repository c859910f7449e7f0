def main(log):
    from pathlib import Path

    from wmhmap.nnunet.env import configure, resolve_device, root_of

    configure(root_of(snakemake.output[0]), threads=snakemake.threads)
    from wmhmap.nnunet.training import stage_settings, train_fold

    n = snakemake.params.nnunet  # what the weights depend on (collapse_retries: only a
    # collapsed fold's, so read from the config like the device)
    run = stage_settings(snakemake.config, snakemake.params.model, snakemake.params.stage)
    device = resolve_device(run["device"])
    log.info(
        "training %s fold %s on %s%s",
        snakemake.wildcards.dataset,
        snakemake.wildcards.fold,
        device,
        f", starting from {snakemake.input.pretrained[0]}" if snakemake.input.pretrained else "",
    )
    folder = train_fold(
        snakemake.wildcards.dataset,
        configuration=n["configuration"],
        fold=int(snakemake.wildcards.fold),
        trainer_name=n["trainer"],
        plans_name=n["plans"],
        device=device,
        epochs=n["epochs"],
        oversample_foreground=n["oversample_foreground"],
        validate=run["validate"],
        threads=snakemake.threads,
        seed=n["seed"],
        compile=run["compile"],
        collapse_retries=run["collapse_retries"],
        pretrained_weights=Path(snakemake.input.pretrained[0])
        if snakemake.input.pretrained
        else None,
    )
    if (
        not (folder / "checkpoint_final.pth").is_file()
        or folder / "checkpoint_final.pth" != Path(snakemake.output[0]).resolve()
    ):
        raise RuntimeError(f"nnU-Net wrote to {folder}, expected {snakemake.output[0]}")


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
