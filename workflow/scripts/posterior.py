"""The posterior of each target of a chunk: one NetCDF of InferenceData groups per target."""

from _job import chunk, start

kind = start(snakemake)  # noqa: F821

import xarray as xr  # noqa: E402

from eegfit.experiments import posterior  # noqa: E402
from eegfit.infer import idata  # noqa: E402

smk = snakemake  # noqa: F821
targets = chunk(smk, kind)
starts = list(smk.input.starts) or [None] * len(targets)  # nevergrad fits: NUTS chains' starts
for target, target_path, start_path, path in zip(targets, smk.input.targets, starts, smk.output):
    fit = xr.load_dataset(start_path) if start_path else None
    idata.write(posterior.run(kind, target, xr.load_dataset(target_path), fit), path)
