"""Fit each target of a chunk with one backend; one NetCDF record and one timing JSON per fit."""

from _job import chunk, start

kind = start(snakemake)  # noqa: F821

import json  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import io  # noqa: E402
from eegfit.experiments import runner  # noqa: E402

smk = snakemake  # noqa: F821
for target, target_path, fit_path, timing_path in zip(chunk(smk, kind), smk.input,
                                                      smk.output.fits, smk.output.timings):
    target_ds = xr.load_dataset(target_path)
    fit_ds, timing = runner.fit(kind, smk.params.backend, target, target_ds)
    io.write_netcdf(fit_ds, fit_path)
    with open(timing_path, "w") as fh:
        json.dump(timing, fh)
