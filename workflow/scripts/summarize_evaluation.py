METRICS = ("dice", "hd95", "avd", "lesion_recall", "lesion_f1")


def main(log):
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from wmhmap.evaluation import (
        compare_modes,
        plot_metric_violins,
        plot_region_dice,
        summarize_metrics,
    )
    from wmhmap.imageio import atomic_open
    from wmhmap.stats.figures import save_figure

    out = snakemake.output
    metrics = pd.concat(
        [pd.read_csv(p, sep="\t", dtype={"subject": str}) for p in snakemake.input.wmh],
        ignore_index=True,
    )
    metrics["site"] = metrics["site"].fillna("all")

    def write(table, path):
        with atomic_open(path) as fh:
            table.to_csv(fh, sep="\t", index=False, float_format="%.6g")

    write(metrics, out.metrics)
    write(summarize_metrics(metrics, by="mode", columns=list(METRICS)), out.summary)
    write(summarize_metrics(metrics, by=["site", "mode"], columns=list(METRICS)), out.by_site)
    write(
        pd.concat([compare_modes(metrics, m).assign(metric=m) for m in METRICS], ignore_index=True),
        out.wilcoxon,
    )
    figures = Path(out.figures)
    figures.mkdir(parents=True, exist_ok=True)
    for metric in METRICS:
        save_figure(
            plot_metric_violins(metrics, metric, by="site", hue="mode"),
            figures / f"wmh_{metric}_by_site",
        )
    if snakemake.input.regions:
        regions = pd.concat(
            [pd.read_csv(p, sep="\t", dtype={"subject": str}) for p in snakemake.input.regions],
            ignore_index=True,
        )
        write(regions, out.region_dice)
        write(
            summarize_metrics(
                regions.groupby(["subject", "mode"], as_index=False).dice.mean(),
                by="mode",
                columns=["dice"],
            ),
            out.region_summary,
        )
        for mode in regions["mode"].unique():
            save_figure(
                plot_region_dice(regions[regions["mode"] == mode]), figures / f"region_dice_{mode}"
            )
    else:
        write(pd.DataFrame(columns=["subject", "mode", "region_id", "dice"]), out.region_dice)
        write(
            pd.DataFrame(columns=["mode", "n", "dice_mean", "dice_sd", "dice_mean_sd"]),
            out.region_summary,
        )
    log.info("evaluated %d subjects", metrics.subject.nunique())


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
