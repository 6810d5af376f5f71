"""Target of the empirical-FC experiment: the subject-mean HCP BOLD FC and the SC, same regions."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import empirical_fc as ef  # noqa: E402
from eegfit import io  # noqa: E402

cfg = config["empirical_fc"]
ef.check(cfg)
conn, fc = ef.target(cfg)
attrs = io.provenance(config, kind="empirical_fc_target", subjects=str(cfg.get("subjects")))
io.write_netcdf(ef.target_dataset(conn, fc, attrs=attrs), snakemake.output[0])  # noqa: F821
