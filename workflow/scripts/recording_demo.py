"""Write the demo recording: the model at recording.demo.truth, decimated, in µV, plus noise."""

from _job import start

config = start(snakemake)  # noqa: F821

from eegfit import recording_experiment  # noqa: E402

recording_experiment.make_demo(config, snakemake.output[0])  # noqa: F821
