"""The ``npe:`` block of an experiment (its own frozen spec, defaults here only, errors by key
path): an amortized neural posterior trained once per experiment, applied to every target and
calibrated by simulation (:mod:`eegfit.experiments.npe`)."""

from __future__ import annotations

import dataclasses

from eegfit.experiments.reader import Reader
from eegfit.infer.npe_settings import Settings


@dataclasses.dataclass(frozen=True)
class NpeSpec:
    """The ``npe:`` block (absent, or ``enabled: false``: no NPE).

    Training (the defaults are :class:`eegfit.infer.npe_settings.Settings`'s): ``n_simulations`` prior
    simulations (the budget), ``steps`` Adam steps on minibatches of ``batch_size`` at
    ``learning_rate``, ``flow_layers`` spline layers of ``nn_width`` hidden units with ``knots``
    knots, ``seed``. Per target: ``draws`` posterior draws. Calibration: ``sbc: {runs, draws,
    bins}`` (SBC ranks and expected coverage on ``runs`` held-out simulations). The likelihood
    (its noise) and the priors are the ``posterior:`` block's, which must be on: the NPE is
    compared with its grid posterior.
    """

    settings: Settings = Settings()
    draws: int = 1000
    sbc_runs: int = 200
    sbc_draws: int = 99
    sbc_bins: int = 10

    KEYS = ("enabled", *(f.name for f in dataclasses.fields(Settings)), "draws", "sbc")

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
        settings = {}
        for f in dataclasses.fields(Settings):
            fallback = getattr(cls.settings, f.name)
            settings[f.name] = (r.number(f.name, fallback, above=0.0) if f.type == "float" else
                                r.integer(f.name, fallback, low=0 if f.name == "seed" else 1))
        sbc = r.sub("sbc", ("runs", "draws", "bins"))
        spec = cls(settings=Settings(**settings), draws=r.integer("draws", cls.draws, low=1),
                   sbc_runs=sbc.integer("runs", cls.sbc_runs, low=2),
                   sbc_draws=sbc.integer("draws", cls.sbc_draws, low=1),
                   sbc_bins=sbc.integer("bins", cls.sbc_bins, low=2))
        if spec.sbc_bins > spec.sbc_draws + 1:
            raise ValueError(f"config {sbc.path('bins')} ({spec.sbc_bins}) must be at most "
                             f"{sbc.path('draws')} + 1 ({spec.sbc_draws + 1})")
        return spec

    @property
    def seed(self) -> int:
        return self.settings.seed


__all__ = ["NpeSpec"]
