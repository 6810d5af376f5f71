"""A chunk's grad fits checked against the other backends' fits of the same targets: a first
attempt within the margin is copied as it is (byte for byte), one far above is fitted again
(eegfit.experiments.cross_retry); one NetCDF record and one timing JSON per fit."""

from _job import chunk, start

kind = start(snakemake)  # noqa: F821

import json  # noqa: E402
import shutil  # noqa: E402

from eegfit import io  # noqa: E402
from eegfit.experiments import cross_retry  # noqa: E402

smk = snakemake  # noqa: F821
with open(smk.input.manifest) as fh:
    paths = {(label, int(seed)): path for label, seed, path in json.load(fh)["targets"]}
targets = chunk(smk, kind)
n = len(targets)
others = {b: list(smk.input.others[i * n:(i + 1) * n]) for i, b in enumerate(smk.params.others)}
out = cross_retry.retry_chunk(kind, smk.params.backend, targets,
                              [paths[(t.label, int(t.seed))] for t in targets],
                              list(smk.input.first), list(smk.input.first_timings), others)
for made, first, first_timing, fit_path, timing_path in zip(
        out, smk.input.first, smk.input.first_timings, smk.output.fits, smk.output.timings):
    if made is None:
        for src, dst in ((first, fit_path), (first_timing, timing_path)):
            with io.atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
        continue
    io.write_netcdf(made[0], fit_path)
    with open(timing_path, "w") as fh:
        json.dump(made[1], fh)
