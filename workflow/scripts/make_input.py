"""Make an input file the experiment's kind generates (e.g. a demo recording)."""

from _job import start

kind = start(snakemake)  # noqa: F821
path = snakemake.output[0]  # noqa: F821
kind.make_input(kind.generated_inputs()[path], path)
