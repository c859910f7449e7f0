def main(log):
    import matplotlib

    matplotlib.use("Agg")

    from wmhmap.highload import HighLoadSubject, high_load_panel
    from wmhmap.imageio import load_image
    from wmhmap.loads import read_loads_tsv
    from wmhmap.overlays import top_regional_loads
    from wmhmap.stats import read_table
    from wmhmap.stats.figures import save_figure

    i, p = snakemake.input, snakemake.params
    summary = read_table(i.summary, table_name="loads summary").set_index("subject")
    long = read_loads_tsv(i.long)
    files = {
        s: (f, m, r) for s, f, m, r in zip(p.subjects, i.flair, i.lesions, i.regions, strict=True)
    }
    top = summary.loc[list(files), "global_mm3"].sort_values(ascending=False).head(p.n)
    log.info("highest loads: %s", ", ".join(f"{s} ({v / 1000:.1f} mL)" for s, v in top.items()))
    rows = [
        HighLoadSubject(
            s,
            load_image(files[s][0], subject=s, role="preprocessed FLAIR"),
            load_image(files[s][1], subject=s, role="WMH mask", dtype=None, allow_constant=True),
            load_image(files[s][2], subject=s, role="region map", dtype=None, allow_constant=True),
            v / 1000,
            top_regional_loads(long, s),
        )
        for s, v in top.items()
    ]
    save_figure(high_load_panel(rows), snakemake.output[0].removesuffix(".png"))


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
