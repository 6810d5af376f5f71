"""Fit the targets of a chunk with one backend, as one batch; one NetCDF record and one timing
JSON per fit. The targets come from the chunk's manifest, in the job's order."""

from _job import chunk_paths, start, write_records

kind = start(snakemake)  # noqa: F821

import xarray as xr  # noqa: E402

from eegfit.experiments import runner  # noqa: E402

smk = snakemake  # noqa: F821
targets, paths = chunk_paths(smk, kind, smk.input[0])
records = runner.fit_chunk(kind, smk.params.backend, targets,
                           [xr.load_dataset(path) for path in paths])
write_records(records, smk.output.fits, smk.output.timings)
