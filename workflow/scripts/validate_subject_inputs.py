import sys


def main(log):
    import json

    from wmhmap.imageio import atomic_open
    from wmhmap.validation import validate_subject

    report = validate_subject(snakemake.params.row)
    with atomic_open(snakemake.output[0]) as fh:
        json.dump(report, fh, indent=2, sort_keys=True)
    log.info("inputs of subject %s are valid", report["subject"])


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
