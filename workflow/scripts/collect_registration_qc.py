def main(log):
    import pandas as pd

    from wmhmap.imageio import atomic_open
    from wmhmap.qc import QcThresholds, registration_flags
    from wmhmap.visits import COLUMNS as VISIT_COLUMNS
    from wmhmap.visits import cohort_visit_flags

    p = snakemake.params
    thresholds = QcThresholds.from_config(
        {
            "min_brain_dice": p.min_brain_dice,
            "min_correlation": p.min_correlation,
            "icv_ml": p.icv_ml,
            "region_volume_ratio": p.region_volume_ratio,
            "max_fov_edge_mm2": p.max_fov_edge_mm2,
            "wm_share": p.wm_share,
            "min_t1w_flair_dice": p.min_t1w_flair_dice,
            "min_t1w_flair_csf_dice": p.min_t1w_flair_csf_dice,
            "min_t1w_wm_gm_ratio": p.min_t1w_wm_gm_ratio,
            "max_flair_wm_gm_ratio": p.max_flair_wm_gm_ratio,
            "max_bright_wm_ratio": p.max_bright_wm_ratio,
        }
    )
    tables = [
        pd.read_csv(path, sep="\t", na_values="n/a", dtype={"subject": str})
        for path in snakemake.input.tables
    ]
    qc = pd.concat(tables, ignore_index=True)
    # later visits of a subject against its first (n/a for the others)
    visits = [
        pd.read_csv(path, sep="\t", dtype={"subject": str, "first_visit": str})
        for path in snakemake.input.visits
    ]
    compared = (
        pd.concat(visits, ignore_index=True)
        if visits
        else pd.DataFrame(columns=["subject", *VISIT_COLUMNS], dtype=object)
    )
    qc = qc.merge(compared, on="subject", how="left")
    rows = qc.to_dict("records")
    visit_flags = cohort_visit_flags(rows, p.min_visit_csf_dice)
    reasons = []
    for row in rows:
        flags = registration_flags(row, thresholds, subject=str(row["subject"]))
        flags += visit_flags.get(str(row["subject"]), [])
        reasons.append("; ".join(f.reason for f in flags))
        for flag in flags:
            log.warning("sub-%s: %s: inspect %s", row["subject"], flag.reason, row["overlay"])
    qc["flagged"] = [bool(r) for r in reasons]
    qc["flags"] = reasons
    log.info("%d of %d subjects flagged", int(qc.flagged.sum()), len(qc))
    with atomic_open(snakemake.output[0]) as fh:
        qc.to_csv(fh, sep="\t", index=False, na_rep="n/a")


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
