def main(log):
    import pandas as pd

    from wmhmap.intervals import IntervalSettings, calibrate_intervals
    from wmhmap.loads import cohort_long, read_loads_tsv, write_loads_tsv

    p = snakemake.params
    settings = IntervalSettings(coverage=p.coverage, floor_mm3=p.floor_mm3)
    tables = [read_loads_tsv(path) for path in snakemake.input.loads]
    calibration = calibrate_intervals(cohort_long(tables), settings)
    write_loads_tsv(calibration, snakemake.output[0])
    if not tables:
        log.warning(
            "no training subject with an expert mask and a held-out fold (a pretrained "
            "lesion model, or none with a lesion_mask): the loads have no intervals"
        )
    for row in calibration.itertuples():
        if pd.isna(row.quantile):
            log.warning(
                "%s: %d pairs are too few for %.0f %% intervals; its intervals stay empty "
                "(add training subjects with expert masks or lower loads.interval_coverage)",
                row.scheme,
                row.pairs,
                100 * row.coverage,
            )
        else:
            log.info(
                "%s: %d pairs of %d training subjects; load +/- %.3f x (load + %g mm3)",
                row.scheme,
                row.pairs,
                row.subjects,
                row.quantile,
                row.floor_mm3,
            )


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
