"""Welch spectra of a preprocessed recording and its gain-free features, per segment and mean."""

from _job import start

config = start(snakemake)  # noqa: F821

import xarray as xr  # noqa: E402

from eegfit import io, recording_experiment  # noqa: E402

smk = snakemake  # noqa: F821
with xr.open_dataset(smk.input[0]) as ds:
    recording = recording_experiment.recording_from_dataset(ds.load())
target = recording_experiment.target_features(config, recording)
attrs = io.provenance(config, kind="recording_features", recording=smk.wildcards.recording,
                      channel=recording.channel, sfreq_hz=recording.sfreq_hz)
io.write_netcdf(recording_experiment.features_dataset(target, attrs=attrs), smk.output[0])
