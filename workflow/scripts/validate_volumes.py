def main(log):
    import matplotlib

    from wmhmap.validation import log_excluded

    matplotlib.use("Agg")
    import pandas as pd

    from wmhmap.imageio import atomic_open
    from wmhmap.stats import read_table
    from wmhmap.stats.agreement import bland_altman, validation_table
    from wmhmap.stats.figures import (
        plot_bland_altman,
        plot_load_distributions,
        plot_predicted_vs_reference,
        save_figure,
    )

    i, o = snakemake.input, snakemake.output
    log_excluded(i.failed, log)
    wide = read_table(i.wide, table_name="wide loads table")
    meta = read_table(i.samplesheet, table_name="sample sheet")
    table = validation_table(wide, meta)
    offset = snakemake.params.log_offset_ml
    results = [
        bland_altman(table.predicted_ml, table.reference_ml).as_table(),
        bland_altman(
            table.predicted_ml, table.reference_ml, log=True, log_offset=offset
        ).as_table(),
    ]
    agreement = pd.concat(results, ignore_index=True)
    agreement.insert(0, "scale", ["mL", "log mL"])
    with atomic_open(o.validation) as fh:
        table.to_csv(fh, sep="\t", index=False, na_rep="n/a", float_format="%.4f")
    with atomic_open(o.agreement) as fh:
        agreement.to_csv(fh, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    raw = agreement.iloc[0]
    log.info(
        "Bland-Altman on %d subjects: bias %.3f mL (%.1f %% of the mean), limits %.3f to %.3f",
        raw.n,
        raw.bias,
        raw.bias_percent,
        raw.lower,
        raw.upper,
    )
    dx = table.diagnosis.tolist()

    def save(fig, path):
        save_figure(fig, str(path).removesuffix(".png"))

    save(plot_bland_altman(table.predicted_ml, table.reference_ml, dx), o.bland_altman)
    save(
        plot_bland_altman(table.predicted_ml, table.reference_ml, dx, log=True, log_offset=offset),
        o.bland_altman_log,
    )
    save(plot_predicted_vs_reference(table.predicted_ml, table.reference_ml, dx), o.scatter)
    for by, path in (("diagnosis", o.by_diagnosis), ("site", o.by_site)):
        save(plot_load_distributions(wide, meta, by=by), path)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
