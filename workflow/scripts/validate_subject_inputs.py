def main(log):
    import json

    from wmhmap.errors import InputError
    from wmhmap.imageio import atomic_open
    from wmhmap.validation import failed_report, validate_subject

    row = snakemake.params.files
    try:
        report = validate_subject(row)
        log.info("inputs of subject %s are valid", report["subject"])
    except InputError as err:
        # recorded, not raised: the subject's first heavy job raises it, the cohort
        # tables leave the subject out (group/failed_subjects.tsv)
        report = failed_report(row["subject"], err)
        log.error("%s", err)
    with atomic_open(snakemake.output[0]) as fh:
        json.dump(report, fh, indent=2, sort_keys=True)


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
