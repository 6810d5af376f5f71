"""Make and write the target of each (target, seed) of a chunk: one NetCDF each, then the chunk's
manifest (the targets' paths, what its fit jobs read)."""

from _job import chunk, start

kind = start(snakemake)  # noqa: F821

import json  # noqa: E402

from eegfit import io  # noqa: E402
from eegfit.experiments import runner  # noqa: E402

smk = snakemake  # noqa: F821
targets = chunk(smk, kind)
for target, path in zip(targets, smk.output.targets):
    io.write_netcdf(runner.make_target(kind, target), path)
with open(smk.output.chunk, "w") as fh:
    json.dump({"targets": [[t.label, int(t.seed), str(path)]
                           for t, path in zip(targets, smk.output.targets)]}, fh, indent=1)
