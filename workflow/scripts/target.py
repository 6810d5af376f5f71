"""Simulate the ground-truth EEG trace of one (truth, seed)."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import experiment, io  # noqa: E402

truth, seed = float(snakemake.wildcards.truth), int(snakemake.wildcards.seed)  # noqa: F821
trace = experiment.target(config, truth, seed)
attrs = io.provenance(config, kind="target", parameter=config["parameter"]["name"],
                      truth=truth, seed=seed)
io.write_netcdf(io.trace_dataset(trace.time_ms, trace.eeg_mv, attrs=attrs),
                snakemake.output[0])  # noqa: F821
