"""The experiment's objective or features over its box (one batched call per target)."""

from _job import start

kind = start(snakemake)  # noqa: F821

import xarray as xr  # noqa: E402

from eegfit import io  # noqa: E402
from eegfit.experiments import runner  # noqa: E402

targets = [xr.load_dataset(p) for p in snakemake.input]  # noqa: F821
io.write_netcdf(runner.scan(kind, targets), snakemake.output[0])  # noqa: F821
