def main(log):
    import matplotlib

    matplotlib.use("Agg")

    from wmhmap.errors import InputError
    from wmhmap.imageio import atomic_open
    from wmhmap.regions import load_region_table
    from wmhmap.stats import read_table
    from wmhmap.stats.classification import classify, feasible_tasks, with_zone_loads
    from wmhmap.stats.figures import plot_coefficients, plot_roc_curves, save_figure
    from wmhmap.validation import log_excluded

    i, o = snakemake.input, snakemake.output
    log_excluded(i.failed, log)
    cfg = snakemake.params.stats
    wide = read_table(i.wide, table_name="wide loads table")
    zone_wides = {
        scheme: read_table(getattr(i, scheme), table_name=f"{scheme} wide loads table")
        for scheme in snakemake.params.zone_sets
    }
    wide = with_zone_loads(wide, zone_wides)
    meta = read_table(i.samplesheet, table_name="sample sheet")
    # planned from the sample sheet; subjects left out of the tables may shrink a class
    tasks = feasible_tasks(wide, meta, snakemake.params.tasks, cfg["covariates"])
    skipped = sorted(set(cfg["tasks"]) - set(tasks))
    if skipped:
        log.warning("tasks without two subjects in each class, skipped: %s", ", ".join(skipped))
    if not tasks:
        raise InputError(
            "no classification task keeps two subjects in each class",
            file=i.wide,
            fix="fix the subjects listed in group/failed_subjects.tsv, or add subjects",
        )
    results = classify(
        wide,
        meta,
        read_table(i.brain, table_name="brain volumes table"),
        tasks=tasks,
        feature_sets=cfg["feature_sets"],
        covariates=cfg["covariates"],
        n_splits=cfg["cv_splits"],
        n_repeats=cfg["cv_repeats"],
        n_bootstrap=cfg["bootstrap"],
        seed=cfg["seed"],
    )
    for name in ("auc", "roc", "delong", "coefficients", "predictions"):
        with atomic_open(getattr(o, name)) as fh:
            getattr(results, name).to_csv(
                fh, sep="\t", index=False, na_rep="n/a", float_format="%.6g"
            )
    for row in results.auc.itertuples():
        log.info(
            "%s, %s: AUC %.3f [%.3f, %.3f]",
            row.task,
            row.feature_set,
            row.auc,
            row.ci_low,
            row.ci_high,
        )
    regions = load_region_table(i.table)
    save_figure(plot_roc_curves(results.roc, results.auc), o.roc_figure.removesuffix(".png"))
    feature_set = "regional" if "regional" in cfg["feature_sets"] else cfg["feature_sets"][0]
    save_figure(
        plot_coefficients(
            results.coefficients, feature_set=feature_set, regions=regions, use_fdr=True
        ),
        o.coefficient_figure.removesuffix(".png"),
    )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
