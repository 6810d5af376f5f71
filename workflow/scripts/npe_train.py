"""The experiment's NPE, trained once on its prior simulations: the weights and their sidecar."""

from _job import start

kind = start(snakemake)  # noqa: F821

import logging  # noqa: E402

from eegfit.experiments import npe  # noqa: E402
from eegfit.infer.npe import io as npe_io  # noqa: E402

estimator = npe.train(kind)
logging.getLogger("eegfit").info("NPE training: %s", estimator.report)
npe_io.save(estimator, snakemake.output.weights)  # noqa: F821  (writes the sidecar too)
