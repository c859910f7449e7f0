def main(log):
    import matplotlib

    matplotlib.use("Agg")

    from wmhmap.imageio import load_image
    from wmhmap.intervals import with_intervals
    from wmhmap.loads import read_loads_tsv
    from wmhmap.overlays import lesion_region_overlay, top_regional_loads
    from wmhmap.paths import wildcards_key
    from wmhmap.stats.figures import save_figure

    i = snakemake.input
    subject = wildcards_key(snakemake.wildcards)
    images = {
        m: load_image(i[m], subject=subject, role=f"preprocessed {m}")
        for m in ("FLAIR", "T1w")
        if m in i.keys()
    }
    figure = lesion_region_overlay(
        images,
        load_image(i.lesions, subject=subject, role="WMH mask", dtype=None, allow_constant=True),
        load_image(i.regions, subject=subject, role="region map", dtype=None),
        title=f"sub-{subject}",
        # the largest regional loads with their calibrated intervals
        loads=top_regional_loads(
            with_intervals(
                read_loads_tsv(i.loads),
                read_loads_tsv(i.calibration, columns=["scheme", "quantile"]),
            ),
            subject,
        ),
    )
    save_figure(figure, snakemake.output[0].removesuffix(".png"), dpi=100)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
