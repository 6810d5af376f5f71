"""The optional inference blocks of an experiment, each its own frozen spec (defaults here only,
errors by key path): ``posterior:`` (the likelihood scale, the priors, grid or NUTS) and ``npe:``
(an amortized neural posterior trained once per experiment, applied to every target and
calibrated by simulation, :mod:`eegfit.experiments.npe`)."""

from __future__ import annotations

import dataclasses

from eegfit.experiments.reader import Block, Bool, Choice, Int, Num, Pair, Reader
from eegfit.infer.npe.settings import Settings

PRIOR = Block({"kind": Choice(("uniform", "normal")), "bounds": Pair(), "mean": Num(),
               "sd": Num(above=0.0)})
POSTERIOR = Block(
    {"enabled": Bool(), "method": Choice(("grid", "nuts")),
     "scale": Block({"rel_sd": Num(above=0.0), "seed_spread": Int(low=2),
                     "sd": Block(each=Num(above=0.0))}, most=1),
     "grid_points": Int(low=2), "refine": Int(low=0), "chains": Int(low=1),
     "draws": Int(low=1), "warmup": Int(low=0), "max_tree_depth": Int(low=1),
     "hds_prob": Num(above=0.0, below=1.0), "max_width": Num(above=0.0, high=1.0),
     "verdict_points": Int(low=0), "priors": Block(each=PRIOR)},
    name="posterior", null=True,
    doc="posteriors and identifiability (defaults in eegfit.experiments.inference.PosteriorSpec)")
"""The ``posterior:`` block's keys, each with its type and range (the schema's and the spec's)."""

NPE = Block(
    {"enabled": Bool(),
     **{f.name: Num(above=0.0) if f.type == "float" else Int(low=0 if f.name == "seed" else 1)
        for f in dataclasses.fields(Settings)},
     "draws": Int(low=1),
     "sbc": Block({"runs": Int(low=2), "draws": Int(low=1), "bins": Int(low=2)}),
     "focus": Int(low=0), "recording_s": Num(above=0.0, null=True),
     "model_noise": Choice(("fit_key", "per_simulation"), null=True)},
    name="npe", null=True,
    doc="an amortized posterior, trained once, calibrated (defaults in "
        "eegfit.infer.npe.settings.Settings and eegfit.experiments.inference.NpeSpec)")
"""The ``npe:`` block's keys (``recording_s`` and ``model_noise``: kind recording only)."""


# ---- posterior: ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Prior:
    """A prior of the posterior block: ``uniform`` on ``bounds`` (default: the whole box) or a
    ``normal`` (``mean``, ``sd``) truncated to the box."""

    name: str
    kind: str = "uniform"
    bounds: tuple[float, float] | None = None
    mean: float | None = None
    sd: float | None = None

    @classmethod
    def read(cls, name: str, block, where: str, box: tuple[float, float]) -> Prior:
        r = Reader(block, where, PRIOR.keys)
        kind = PRIOR.value(r, "kind", cls.kind)
        if kind == "uniform":
            Reader(block, where, ("kind", "bounds"))
            bounds = PRIOR.value(r, "bounds") if r.has("bounds") else None
            if bounds is not None and (bounds[0] < box[0] or bounds[1] > box[1]):
                raise ValueError(f"config {r.path('bounds')} {list(bounds)}: the prior lies "
                                 f"outside the parameter's bounds {list(box)}")
            return cls(name, kind, bounds=bounds)
        Reader(block, where, ("kind", "mean", "sd"))
        return cls(name, kind, mean=PRIOR.value(r, "mean"), sd=PRIOR.value(r, "sd"))

    def distribution(self, box: tuple[float, float]):
        """The :mod:`eegfit.infer` prior on ``box``."""
        from eegfit import infer  # noqa: PLC0415

        if self.kind == "normal":
            return infer.TruncatedNormal(self.mean, self.sd, *box)
        return infer.Uniform(*(self.bounds or box))


@dataclasses.dataclass(frozen=True)
class PosteriorSpec:
    """The ``posterior:`` block (absent, or ``enabled: false``: no posterior). Defaults here only.

    ``method``: ``grid`` (1-2 parameters, exact, the reference) or ``nuts``. ``scale``: the
    likelihood's standard deviation per feature: ``{rel_sd: 0.01}`` (of the target's feature),
    ``{seed_spread: n}`` (the feature's spread over n drive seeds at the truth) or ``{sd: {feature:
    value}}``; without it, ``rel_sd`` 0.01 for a constant drive and ``seed_spread`` 16 for a noisy
    one. Grid: ``grid_points`` per parameter, ``refine`` levels. NUTS: ``chains``, ``draws``,
    ``warmup``, ``max_tree_depth`` (chains start from the nevergrad fit's best candidates where
    that backend runs). Verdict: the ``hds_prob`` set, identified when one interval narrower than
    ``max_width`` of the box; ``verdict_points`` truths over the box (one parameter) for the
    identifiability strip. ``priors``: per parameter (default uniform on its box).
    """

    method: str = "grid"
    rel_sd: float | None = None
    seed_spread: int | None = None
    sd: dict | None = None
    grid_points: int = 241
    refine: int = 2
    chains: int = 4
    draws: int = 500
    warmup: int = 300
    max_tree_depth: int = 8
    hds_prob: float = 0.9
    max_width: float = 0.1
    verdict_points: int = 61
    priors: tuple[Prior, ...] = ()

    @classmethod
    def read(cls, block, where: str, parameters: tuple) -> PosteriorSpec | None:
        if block is None:
            return None
        r, get = Reader(block, where, POSTERIOR.keys), POSTERIOR.value
        if not get(r, "enabled", True):
            return None
        method = get(r, "method", cls.method)
        if method == "grid" and len(parameters) > 2:
            raise ValueError(f"config {r.path('method')}: a grid posterior takes 1 or 2 "
                             f"parameters, this experiment fits {len(parameters)}; use nuts")
        scale_decl = POSTERIOR.fields["scale"]
        scale = r.sub("scale", scale_decl.keys)
        if len(scale.block) > scale_decl.most:
            raise ValueError(f"config {scale.where}: give one of rel_sd, seed_spread, sd; got "
                             f"{sorted(scale.block)}")
        sd = None
        if scale.has("sd"):
            sub = scale.sub("sd")
            if not sub.block:
                raise ValueError(f"config {sub.where} must give a scale per feature")
            sd = {k: sub.get(k, scale_decl.fields["sd"].each) for k in sub.block}
        priors = r.sub("priors")
        boxes = {p.name: p.bounds for p in parameters}
        for name in priors.block:
            if name not in boxes:
                raise ValueError(f"config {priors.path(name)}: {name!r} is not a fitted "
                                 f"parameter ({sorted(boxes)})")
        plain = ("grid_points", "refine", "chains", "draws", "warmup", "max_tree_depth",
                 "hds_prob", "max_width", "verdict_points")
        return cls(method=method,
                   rel_sd=scale_decl.value(scale, "rel_sd") if scale.has("rel_sd") else None,
                   seed_spread=scale_decl.value(scale, "seed_spread")
                   if scale.has("seed_spread") else None, sd=sd,
                   **{k: get(r, k, getattr(cls, k)) for k in plain},
                   priors=tuple(Prior.read(n, b, priors.path(n), boxes[n])
                                for n, b in priors.block.items()))

    def prior(self, name: str, box: tuple[float, float]):
        """The :mod:`eegfit.infer` prior of ``name`` (uniform on ``box`` unless configured)."""
        for p in self.priors:
            if p.name == name:
                return p.distribution(box)
        return None


# ---- npe: ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NpeSpec:
    """The ``npe:`` block (absent, or ``enabled: false``: no NPE).

    Training (the defaults are :class:`eegfit.infer.npe.settings.Settings`'s): ``n_simulations`` prior
    simulations (the budget), ``steps`` Adam steps on minibatches of ``batch_size`` at
    ``learning_rate``, ``flow_layers`` spline layers of ``nn_width`` hidden units with ``knots``
    knots, ``seed``. Per target: ``draws`` posterior draws. Calibration: ``sbc: {runs, draws,
    bins}`` (SBC ranks and expected coverage on ``runs`` held-out simulations, of the amortized
    estimator). ``focus``: per target, this many sequential rounds (each on the prior truncated
    to where the round before puts the posterior, a flow of the same settings trained on it:
    :func:`eegfit.infer.npe.train.focus`), which hold each target's NPE to its grid posterior
    (sd within 1.3x, mean within 0.25 sd); 0: the amortized draws alone. The likelihood
    (its noise) and the priors are the ``posterior:`` block's, which must be on: the NPE is
    compared with its grid posterior. ``recording_s`` (kind ``recording`` only): the length of
    recording (s) the estimator is trained for, which sets the Welch estimate's sampling noise
    (default: the demo's ``duration_s``); a target of another length is refused.
    ``model_noise`` (kind ``recording`` only): ``fit_key`` (the model simulated with the fit
    key of the first seed, as the grid posterior: the NPE's likelihood is the grid's) or
    ``per_simulation`` (each training simulation its own drive noise, the rest of the
    likelihood's noise on top: the simulator's own likelihood, see docs/npe.md); None: the
    kind's default (:func:`eegfit.experiments.recording.npe.model_noise`).
    """

    settings: Settings = Settings()
    draws: int = 1000
    sbc_runs: int = 200
    sbc_draws: int = 99
    sbc_bins: int = 10
    focus: int = 1
    recording_s: float | None = None
    model_noise: str | None = None

    @classmethod
    def read(cls, block, where: str, posterior) -> NpeSpec | None:
        if block is None:
            return None
        r, get = Reader(block, where, NPE.keys), NPE.value
        if not get(r, "enabled", True):
            return None
        if posterior is None:
            raise ValueError(f"config {where}: an NPE needs the posterior: block on (its "
                             f"likelihood scale and priors; its grid posterior is the reference)")
        if posterior.seed_spread is not None:
            raise ValueError(f"config {where}: the NPE's noise is the posterior block's rel_sd or "
                             f"sd; scale.seed_spread is measured at each target's truth")
        settings = {f.name: get(r, f.name, getattr(cls.settings, f.name))
                    for f in dataclasses.fields(Settings)}
        sbc_decl = NPE.fields["sbc"]
        sbc = r.sub("sbc", sbc_decl.keys)
        spec = cls(settings=Settings(**settings), draws=get(r, "draws", cls.draws),
                   **{f"sbc_{k}": sbc_decl.value(sbc, k, getattr(cls, f"sbc_{k}"))
                      for k in sbc_decl.keys},
                   **{k: get(r, k, getattr(cls, k)) for k in ("focus", "recording_s",
                                                              "model_noise")})
        if spec.sbc_bins > spec.sbc_draws + 1:
            raise ValueError(f"config {sbc.path('bins')} ({spec.sbc_bins}) must be at most "
                             f"{sbc.path('draws')} + 1 ({spec.sbc_draws + 1})")
        return spec

    @property
    def seed(self) -> int:
        return self.settings.seed


__all__ = ["NPE", "NpeSpec", "POSTERIOR", "PRIOR", "PosteriorSpec", "Prior"]
