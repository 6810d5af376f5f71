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
    bins}`` (SBC ranks and expected coverage on ``runs`` held-out simulations, of the amortized
    estimator). ``focus``: per target, this many sequential rounds (each on the prior truncated
    to where the round before puts the posterior, a flow of the same settings trained on it:
    :func:`eegfit.infer.npe_train.focus`), which hold each target's NPE to its grid posterior
    (sd within 1.3x, mean within 0.25 sd); 0: the amortized draws alone. The likelihood
    (its noise) and the priors are the ``posterior:`` block's, which must be on: the NPE is
    compared with its grid posterior. ``recording_s`` (kind ``recording`` only): the length of
    recording (s) the estimator is trained for, which sets the Welch estimate's sampling noise
    (default: the demo's ``duration_s``); a target of another length is refused.
    ``model_noise`` (kind ``recording`` only): ``fit_key`` (the model simulated with the fit
    key of the first seed, as the grid posterior: the NPE's likelihood is the grid's) or
    ``per_simulation`` (each training simulation its own drive noise, the rest of the
    likelihood's noise on top: the simulator's own likelihood, see docs/npe.md); None: the
    kind's default (:func:`eegfit.experiments.recording_npe.model_noise`).
    """

    settings: Settings = Settings()
    draws: int = 1000
    sbc_runs: int = 200
    sbc_draws: int = 99
    sbc_bins: int = 10
    focus: int = 1
    recording_s: float | None = None
    model_noise: str | None = None

    KEYS = ("enabled", *(f.name for f in dataclasses.fields(Settings)), "draws", "sbc",
            "focus", "recording_s", "model_noise")

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
                   sbc_bins=sbc.integer("bins", cls.sbc_bins, low=2),
                   focus=r.integer("focus", cls.focus, low=0),
                   recording_s=r.number("recording_s", optional=True, above=0.0),
                   model_noise=None if r.raw("model_noise") is None else r.choice(
                       "model_noise", ("fit_key", "per_simulation")))
        if spec.sbc_bins > spec.sbc_draws + 1:
            raise ValueError(f"config {sbc.path('bins')} ({spec.sbc_bins}) must be at most "
                             f"{sbc.path('draws')} + 1 ({spec.sbc_draws + 1})")
        return spec

    @property
    def seed(self) -> int:
        return self.settings.seed


__all__ = ["NpeSpec"]
