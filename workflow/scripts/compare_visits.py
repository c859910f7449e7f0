def main(log):
    import nibabel as nib
    import pandas as pd

    from wmhmap.imageio import atomic_open
    from wmhmap.paths import wildcards_key
    from wmhmap.preprocess import LinearRegistrationSettings
    from wmhmap.visits import COLUMNS, compare_visits

    inputs, params = snakemake.input, snakemake.params
    measures = compare_visits(
        nib.load(inputs.first),
        nib.load(inputs.first_brain),
        nib.load(inputs.later),
        nib.load(inputs.later_brain),
        settings=LinearRegistrationSettings.from_config(params.rigid),
    )
    visit = wildcards_key(snakemake.wildcards)
    log.info(
        "sub-%s against its first visit %s (%s): brain overlap %.3f, CSF overlap %.3f "
        "(%s fit, scale %.3f)",
        visit,
        params.first_visit,
        params.modality,
        measures["visit_brain_dice"],
        measures["visit_csf_dice"],
        measures["visit_fit"],
        measures["visit_scale"],
    )
    row = {"subject": visit, "first_visit": params.first_visit, "visit_modality": params.modality}
    table = pd.DataFrame([{**row, **measures}], columns=["subject", *COLUMNS])
    with atomic_open(snakemake.output[0]) as fh:
        table.to_csv(fh, sep="\t", index=False, float_format="%.4f")


if __name__ == "__main__":
    from wmhmap.antspy import registration_script

    reproducible = snakemake.params.reproducible
    with registration_script(snakemake.log[0], snakemake.threads, reproducible=reproducible) as log:
        main(log)
