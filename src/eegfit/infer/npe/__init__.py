"""Neural posterior estimation (NPE): a conditional normalizing flow ``q(theta | y)`` trained
once on simulations from the prior, then a posterior for any target in milliseconds. One idea,
one module per part:

- :mod:`~eegfit.infer.npe.settings`: what an NPE is trained with, :class:`Noise` (the
  likelihood's noise on a simulated feature) and :class:`Settings` (flow size, budget, seed);
  light (no equinox, no flowjax), so a config is checked against it at planning.
- :mod:`~eegfit.infer.npe.estimator`: the flow and the trained :class:`Estimator` (draws and
  densities for any target, compiled once per flow shape), :func:`posterior_draws`.
- :mod:`~eegfit.infer.npe.train`: training on prior simulations (``train``), and ``focus``, a
  second round on a target's neighbourhood.
- :mod:`~eegfit.infer.npe.io`: save and reload, refusing an estimator trained for another
  prior, noise or conditions.
- :mod:`~eegfit.infer.npe.check`: each target's NPE held to its grid posterior (the per-target
  check SBC cannot make; SBC itself is :mod:`eegfit.infer.sbc`).

Names are imported on first use, so ``from eegfit.infer.npe.settings import Settings`` does not
import equinox.
"""

from eegfit._lazy import attach

attach(__name__, {
    **dict.fromkeys(["Noise", "Settings"], "settings"),
    **dict.fromkeys(["Estimator", "NpeResult", "Scaling", "build_flow", "posterior_draws",
                     "split", "structure"], "estimator"),
})

__all__ = ["Estimator", "Noise", "NpeResult", "Scaling", "Settings", "build_flow",
           "posterior_draws", "split", "structure"]
