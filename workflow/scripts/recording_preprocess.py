"""Read one recording, check it, re-reference, filter, pick the channel(s), cut the windows."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import io, recording_experiment  # noqa: E402

smk = snakemake  # noqa: F821
# Every bad input (channel, window, sampling rate, flat or NaN signal) raises here, naming the
# file and the value, before any output is written and before any fit can start.
recording = recording_experiment.load_target(config, smk.input[0])
attrs = io.provenance(config, kind="recording", recording=smk.wildcards.recording)
io.write_netcdf(recording_experiment.preprocessed_dataset(recording, attrs=attrs), smk.output[0])
