"""Simulate the ground-truth trace and compute the features of each (truth, seed) of a chunk."""

from _job import members, start

config = start(snakemake)  # noqa: F821

from eegfit import experiment, features, io  # noqa: E402

out = snakemake.output  # noqa: F821
for (truth, seed), target_path, features_path in zip(members(out.targets), out.targets,
                                                     out.features):
    trace = experiment.target(config, truth, seed)
    attrs = io.provenance(config, kind="target", parameter=config["parameter"]["name"],
                          truth=truth, seed=seed)
    io.write_netcdf(io.trace_dataset(trace.time_ms, trace.eeg_mv, attrs=attrs), target_path)
    values = experiment.features_of(config, trace.eeg_mv, list(features.FEATURES))
    io.write_netcdf(io.features_dataset(values, features.UNITS, attrs={**attrs, "kind": "features"}),
                    features_path)
