"""Make and write the target of each (target, seed) of a chunk: one NetCDF each."""

from _job import chunk, start

kind = start(snakemake)  # noqa: F821

from eegfit import io  # noqa: E402
from eegfit.experiments import runner  # noqa: E402

for target, path in zip(chunk(snakemake, kind), snakemake.output):  # noqa: F821
    io.write_netcdf(runner.make_target(kind, target), path)
