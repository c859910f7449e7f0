import sys


def main(log):
    import json
    from pathlib import Path

    from wmhmap.geometry import orientation_code, reorient_to_ras
    from wmhmap.imageio import load_image, save_image
    from wmhmap.paths import wildcards_key
    from wmhmap.preprocess import N4Settings, correct_bias_n4
    from wmhmap.validation import require_valid

    require_valid(json.loads(Path(snakemake.input.validation).read_text()))
    subject, modality = wildcards_key(snakemake.wildcards), snakemake.wildcards.modality
    raw = load_image(snakemake.input.image, subject=subject, role=modality)
    log.info("%s %s: stored %s, reoriented to RAS", subject, modality, orientation_code(raw))
    p = snakemake.params.n4
    settings = N4Settings(
        shrink_mm=p["shrink_mm"],
        iterations=tuple(p["iterations"]),
        spline_distance_mm=p["spline_distance_mm"],
    )
    corrected, _ = correct_bias_n4(reorient_to_ras(raw), settings=settings)
    save_image(corrected, snakemake.output.image)


if __name__ == "__main__":
    sys.path.insert(0, f"{snakemake.scriptdir}/../..")
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
