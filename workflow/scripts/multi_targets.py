"""Targets of the multi-parameter experiment: trace and features at each truth."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import experiments_multi as em  # noqa: E402
from eegfit import features, io  # noqa: E402

cfg = config["multi"]
em.check(cfg)
for truth, path in zip(cfg["truths"], snakemake.output):  # noqa: F821
    trace, values = em.target(cfg, truth)
    attrs = io.provenance(config, kind="multi_target", truth_label=em.label(cfg, truth),
                          **{f"truth.{k}": v for k, v in em.truth_values(cfg, truth).items()})
    ds = io.trace_dataset(trace.time_ms, trace.eeg_mv, attrs=attrs)
    for name, value in values.items():
        ds[name] = ((), value, {"units": features.UNITS[name], "long_name": f"target's {name}"})
    io.write_netcdf(ds, path)
