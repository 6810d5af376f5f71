"""The NPE posterior of each target of a chunk: one NetCDF of InferenceData groups per target."""

from _job import chunk, start

kind = start(snakemake)  # noqa: F821

import xarray as xr  # noqa: E402

from eegfit.experiments import npe  # noqa: E402
from eegfit.infer import idata  # noqa: E402

smk = snakemake  # noqa: F821
estimator = npe.load(kind, smk.input.weights)  # refused if trained for another prior or noise
for target, target_path, path in zip(chunk(smk, kind), smk.input.targets, smk.output):
    idata.write(npe.run(kind, estimator, target, xr.load_dataset(target_path)), path)
