def main(log):
    import matplotlib

    matplotlib.use("Agg")

    from wmhmap.imageio import atomic_open
    from wmhmap.regions import load_region_table
    from wmhmap.stats import read_table
    from wmhmap.stats.clustering import cluster_regional_loads, regional_profiles
    from wmhmap.stats.figures import plot_lesion_frequency, plot_silhouette, save_figure
    from wmhmap.validation import log_excluded

    i, o = snakemake.input, snakemake.output
    log_excluded(i.failed, log)
    cfg = snakemake.params.stats
    meta = read_table(i.samplesheet, table_name="sample sheet")
    wide = read_table(i.wide, table_name="wide loads table")
    # the statistics' visits only: one per subject when the cohort has sessions
    wide = wide[wide["subject"].isin(meta["subject"])]
    regions = load_region_table(i.table)
    # k-means needs fewer clusters than subjects with regional lesions (the library
    # skips larger k of cluster_ks)
    n = len(regional_profiles(wide).profiles)
    if n <= min(cfg["cluster_ks"]):
        # a cohort (or a model) without lesions in three subjects: nothing to cluster,
        # but the rest of the statistics still stands; say so in the tables and figures
        import pandas as pd
        from matplotlib.figure import Figure

        log.warning("%d subject(s) with regional lesion load: too few to cluster (need 3)", n)
        empty = {
            "assignments": ["subject", "cluster"],
            "silhouette": ["k", "silhouette", "inertia"],
            "groups": ["cluster", "n_subjects"],
            "frequency": ["cluster"],
        }
        for name, columns in empty.items():
            with atomic_open(getattr(o, name)) as fh:
                pd.DataFrame(columns=columns).to_csv(fh, sep="\t", index=False)
        for path in (o.silhouette_figure, o.frequency_figure):
            fig = Figure(figsize=(5, 2))
            fig.text(0.5, 0.5, f"not clustered: {n} subject(s) with regional lesions", ha="center")
            save_figure(fig, path.removesuffix(".png"))
        return
    result = cluster_regional_loads(
        wide,
        k=cfg["cluster_k"] or None,
        ks=cfg["cluster_ks"],
        seed=cfg["seed"],
        regions=regions,
        meta=meta,
    )
    for name in ("assignments", "silhouette", "groups", "frequency"):
        with atomic_open(getattr(o, name)) as fh:
            getattr(result, name).to_csv(
                fh, sep="\t", index=False, na_rep="n/a", float_format="%.6g"
            )
    log.info(
        "k = %d (silhouette %.3f); %d subject(s) without regional load left out",
        result.k,
        result.silhouette_score,
        len(result.excluded),
    )
    save_figure(
        plot_silhouette(result.silhouette, result.k), o.silhouette_figure.removesuffix(".png")
    )
    save_figure(
        plot_lesion_frequency(result.frequency, regions), o.frequency_figure.removesuffix(".png")
    )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
