def main(log):
    import nibabel as nib

    from wmhmap.imageio import atomic_path
    from wmhmap.preprocess import LinearRegistrationSettings, register_linear

    settings = LinearRegistrationSettings.from_config(snakemake.params.rigid)
    rigid = register_linear(
        nib.load(snakemake.input.flair),
        nib.load(snakemake.input.t1w),
        kind="Rigid",
        settings=settings,
    )
    log.info(
        "T1w -> FLAIR: rotation %.2f deg, translation %s mm",
        rigid.rotation_deg(),
        rigid.matrix_ras[:3, 3].round(2),
    )
    with atomic_path(snakemake.output.xfm) as tmp:
        rigid.write(tmp)


if __name__ == "__main__":
    from wmhmap.antspy import registration_script

    reproducible = snakemake.params.reproducible
    with registration_script(snakemake.log[0], snakemake.threads, reproducible=reproducible) as log:
        main(log)
