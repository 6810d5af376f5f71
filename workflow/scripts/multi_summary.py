"""One row per multi-parameter fit: error and Laplace 1-sigma per parameter (CSV adds wall time)."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import experiments_multi as em  # noqa: E402
from eegfit import io  # noqa: E402

smk = snakemake  # noqa: F821
table = em.summary(smk.input.fits, smk.input.timings)
io.write_netcdf(em.summary_dataset(table, config["multi"],
                                   attrs=io.provenance(config, kind="multi_summary")),
                smk.output.nc)
table.to_csv(smk.output.csv, index=False)
