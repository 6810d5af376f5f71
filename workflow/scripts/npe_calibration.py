"""SBC ranks, their chi-square test and expected coverage of the experiment's NPE."""

from _job import start

kind = start(snakemake)  # noqa: F821

from eegfit import io  # noqa: E402
from eegfit.experiments import npe  # noqa: E402

estimator = npe.load(kind, snakemake.input.weights)  # noqa: F821
io.write_netcdf(npe.calibration(kind, estimator), snakemake.output[0])  # noqa: F821
