"""Targets of the network experiment: node signals and FC at each true coupling and seed."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import io  # noqa: E402
from eegfit import network_experiment as ne  # noqa: E402

cfg = config["network"]
ne.check(cfg)
conn = ne.load_connectome(cfg)
base = ne.base_model(cfg, conn)
paths = iter(snakemake.output)  # noqa: F821
for truth in cfg["parameter"]["truths"]:
    for seed in cfg["seeds"]:
        time_ms, eeg, fc = ne.target(cfg, truth, seed)
        attrs = io.provenance(config, kind="network_target", truth=float(truth), seed=int(seed),
                              parameter=cfg["parameter"]["name"])
        io.write_netcdf(ne.target_dataset(cfg, conn, time_ms, eeg, fc, attrs=attrs), next(paths))
