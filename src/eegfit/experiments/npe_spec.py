"""The ``npe:`` block of an experiment (its own frozen spec, defaults here only, errors by key
path): an amortized neural posterior trained once per experiment, applied to every target and
calibrated by simulation (:mod:`eegfit.experiments.npe`)."""

from __future__ import annotations

import dataclasses

from eegfit.experiments.reader import Reader


@dataclasses.dataclass(frozen=True)
class NpeSpec:
    """The ``npe:`` block (absent, or ``enabled: false``: no NPE). Defaults here only.

    Training: ``n_simulations`` prior simulations (the budget), ``steps`` Adam steps on
    minibatches of ``batch_size`` at ``learning_rate``, ``flow_layers`` spline layers of
    ``nn_width`` hidden units with ``knots`` knots, ``seed``. Per target: ``draws`` posterior
    draws. Calibration: ``sbc: {runs, draws, bins}`` (SBC ranks and expected coverage on ``runs``
    held-out simulations). The likelihood (its noise) and the priors are the ``posterior:``
    block's, which must be on: the NPE is compared with its grid posterior.
    """

    n_simulations: int = 4000
    steps: int = 1500
    batch_size: int = 256
    learning_rate: float = 2e-3
    flow_layers: int = 1
    nn_width: int = 32
    knots: int = 8
    seed: int = 0
    draws: int = 1000
    sbc_runs: int = 200
    sbc_draws: int = 99
    sbc_bins: int = 10

    KEYS = ("enabled", "n_simulations", "steps", "batch_size", "learning_rate", "flow_layers",
            "nn_width", "knots", "seed", "draws", "sbc")

    @classmethod
    def read(cls, block, where: str, posterior) -> NpeSpec | None:
        if block is None:
            return None
        r = Reader(block, where, cls.KEYS)
        if not r.boolean("enabled", True):
            return None
        if posterior is None:
            raise ValueError(f"config {where}: an NPE needs the posterior: block on (its "
                             f"likelihood scale and priors; its grid posterior is the reference)")
        if posterior.seed_spread is not None:
            raise ValueError(f"config {where}: the NPE's noise is the posterior block's rel_sd or "
                             f"sd; scale.seed_spread is measured at each target's truth")
        sbc = r.sub("sbc", ("runs", "draws", "bins"))
        spec = cls(
            n_simulations=r.integer("n_simulations", cls.n_simulations, low=1),
            steps=r.integer("steps", cls.steps, low=1),
            batch_size=r.integer("batch_size", cls.batch_size, low=1),
            learning_rate=r.number("learning_rate", cls.learning_rate, above=0.0),
            flow_layers=r.integer("flow_layers", cls.flow_layers, low=1),
            nn_width=r.integer("nn_width", cls.nn_width, low=1),
            knots=r.integer("knots", cls.knots, low=1),
            seed=r.integer("seed", cls.seed, low=0),
            draws=r.integer("draws", cls.draws, low=1),
            sbc_runs=sbc.integer("runs", cls.sbc_runs, low=2),
            sbc_draws=sbc.integer("draws", cls.sbc_draws, low=1),
            sbc_bins=sbc.integer("bins", cls.sbc_bins, low=2))
        if spec.sbc_bins > spec.sbc_draws + 1:
            raise ValueError(f"config {sbc.path('bins')} ({spec.sbc_bins}) must be at most "
                             f"{sbc.path('draws')} + 1 ({spec.sbc_draws + 1})")
        return spec

    def settings(self):
        """The :class:`eegfit.infer.npe.Settings` of the training run."""
        from eegfit.infer.npe import Settings  # noqa: PLC0415

        return Settings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Settings)})


__all__ = ["NpeSpec"]
