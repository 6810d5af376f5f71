"""One row per network fit: fitted coupling, loss and FC correlation next to the noise floor."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import io  # noqa: E402
from eegfit import network_experiment as ne  # noqa: E402

smk = snakemake  # noqa: F821
table = ne.summary(smk.input.fits, smk.input.timings)
io.write_netcdf(ne.summary_dataset(table, config["network"],
                                   attrs=io.provenance(config, kind="network_summary")),
                smk.output.nc)
table.to_csv(smk.output.csv, index=False)
