"""A chunk's grad fits checked against the other backends' fits of the same targets: a first
attempt within the margin is copied as it is (byte for byte), one far above is fitted again
(eegfit.experiments.retry_above); one NetCDF record and one timing JSON per fit."""

from _job import chunk_paths, start, write_records

kind = start(snakemake)  # noqa: F821

import shutil  # noqa: E402

from eegfit import io  # noqa: E402
from eegfit.experiments import retry_above  # noqa: E402

smk = snakemake  # noqa: F821
targets, paths = chunk_paths(smk, kind, smk.input.manifest)
n = len(targets)
others = {b: list(smk.input.others[i * n:(i + 1) * n]) for i, b in enumerate(smk.params.others)}
out = retry_above.retry_chunk(kind, smk.params.backend, targets, paths, list(smk.input.first),
                              list(smk.input.first_timings), others)
refitted = [i for i, made in enumerate(out) if made is not None]
for i, made in enumerate(out):
    if made is None:  # within the margin: the first attempt, byte for byte
        for src, dst in ((smk.input.first[i], smk.output.fits[i]),
                         (smk.input.first_timings[i], smk.output.timings[i])):
            with io.atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
write_records([out[i] for i in refitted], [smk.output.fits[i] for i in refitted],
              [smk.output.timings[i] for i in refitted])
