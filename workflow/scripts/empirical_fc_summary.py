"""One row per backend: fitted coupling, FC correlation with the empirical FC, noise floor."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import empirical_fc as ef  # noqa: E402
from eegfit import io  # noqa: E402

smk = snakemake  # noqa: F821
table = ef.summary(smk.input.fits, smk.input.timings)
io.write_netcdf(ef.summary_dataset(table, config["empirical_fc"],
                                   attrs=io.provenance(config, kind="empirical_fc_summary")),
                smk.output.nc)
table.to_csv(smk.output.csv, index=False)
