def main(log):
    import json

    import nibabel as nib
    import numpy as np

    from wmhmap.demo import models_from_config
    from wmhmap.demo.anatomy import load_template
    from wmhmap.demo.simulate import SubjectSpec, simulate_subject
    from wmhmap.imageio import atomic_open, save_image

    row = snakemake.params.subject
    profile, lesion_model, anatomy_model = models_from_config(
        snakemake.params.demo, row["site"], int(row["seed"])
    )
    spec = SubjectSpec(
        row["subject"], row["diagnosis"], row["site"], float(row["age"]), int(row["seed"])
    )
    labels = np.asarray(nib.load(snakemake.input.labels).dataobj, dtype=np.uint8)
    subject = simulate_subject(load_template(), labels, spec, profile, lesion_model, anatomy_model)
    out = snakemake.output
    save_image(subject.t1, out.t1)
    save_image(subject.flair, out.flair)
    save_image(subject.lesion_mask, out.lesion_mask)
    save_image(subject.regions, out.regions)
    save_image(subject.ventricles, out.ventricles)
    with atomic_open(out.truth) as fh:
        json.dump(subject.truth, fh, indent=2, sort_keys=True)
    log.info("%s: %.2f mL of WMH", spec.subject, subject.truth["wmh_ml"])


if __name__ == "__main__":
    from wmhmap.logs import rule_script

    with rule_script(snakemake.log[0], snakemake.threads) as log:
        main(log)
