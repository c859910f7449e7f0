def main(log):
    import matplotlib

    matplotlib.use("Agg")

    from wmhmap.stats import read_table
    from wmhmap.stats.figures import save_figure
    from wmhmap.stats.zonefigures import plot_zone_loads
    from wmhmap.validation import log_excluded
    from wmhmap.zones import PvDeepSettings

    i, p = snakemake.input, snakemake.params
    log_excluded(i.failed, log)
    tables = {
        scheme: read_table(getattr(i, scheme), table_name=f"{scheme} wide loads table")
        for scheme in ("pvdeep", "bullseye")
        if scheme in i.keys()
    }
    names = [r.name for r in PvDeepSettings(tuple(p.bands_mm), p.juxtacortical_mm).table()]
    fig = plot_zone_loads(
        tables.get("pvdeep"),
        tables.get("bullseye"),
        read_table(i.samplesheet, table_name="sample sheet"),
        pvdeep_names=names,
    )
    save_figure(fig, snakemake.output.figure.removesuffix(".png"))
    log.info("zone loads of %s", ", ".join(tables))


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
