"""wmhmap: regional white matter hyperintensity mapping.

Pure, typed building blocks of the workflow: image I/O and checks, preprocessing,
atlas-label propagation, nnU-Net datasets and inference, regional loads,
segmentation metrics and cohort statistics. Nothing here imports Snakemake.
"""

__version__ = "0.1.0"
