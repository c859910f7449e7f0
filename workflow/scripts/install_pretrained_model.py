def main(log):
    from pathlib import Path

    from wmhmap.nnunet.env import configure, root_of

    configure(root_of(snakemake.output[0]))
    from wmhmap.imageio import atomic_open
    from wmhmap.nnunet.sharing import install_model, sha256_of

    zip_path = Path(snakemake.input.zip)
    folders = install_model(zip_path, snakemake.params.sha256 or None)
    with atomic_open(snakemake.output[0]) as fh:
        fh.write(f"{sha256_of(zip_path)}  {zip_path.name}\n")
    log.info("installed %s from %s", ", ".join(folders), zip_path)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
