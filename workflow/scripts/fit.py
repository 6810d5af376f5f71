"""Fit the targets of a chunk with one backend, as one batch; one NetCDF record and one timing
JSON per fit. The targets come from the chunk's manifest, in the job's order."""

from _job import chunk, start

kind = start(snakemake)  # noqa: F821

import json  # noqa: E402

import xarray as xr  # noqa: E402

from eegfit import io  # noqa: E402
from eegfit.experiments import runner  # noqa: E402

smk = snakemake  # noqa: F821
with open(smk.input[0]) as fh:
    paths = {(label, int(seed)): path for label, seed, path in json.load(fh)["targets"]}
targets = chunk(smk, kind)
datasets = [xr.load_dataset(paths[(t.label, int(t.seed))]) for t in targets]
records = runner.fit_chunk(kind, smk.params.backend, targets, datasets)
for (fit_ds, timing), fit_path, timing_path in zip(records, smk.output.fits,
                                                   smk.output.timings):
    io.write_netcdf(fit_ds, fit_path)
    with open(timing_path, "w") as fh:
        json.dump(timing, fh)
