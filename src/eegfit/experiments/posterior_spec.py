"""The ``posterior:`` block of an experiment (its own frozen spec, defaults here only, errors by
key path) and the priors it names."""

from __future__ import annotations

import dataclasses

from eegfit.experiments.reader import Reader, interval


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
        r = Reader(block, where, ("kind", "bounds", "mean", "sd"))
        kind = r.choice("kind", ("uniform", "normal"), cls.kind)
        if kind == "uniform":
            Reader(block, where, ("kind", "bounds"))
            bounds = interval(r.raw("bounds"), r.path("bounds")) if r.has("bounds") else None
            if bounds is not None and (bounds[0] < box[0] or bounds[1] > box[1]):
                raise ValueError(f"config {r.path('bounds')} {list(bounds)}: the prior lies "
                                 f"outside the parameter's bounds {list(box)}")
            return cls(name, kind, bounds=bounds)
        Reader(block, where, ("kind", "mean", "sd"))
        return cls(name, kind, mean=r.number("mean"), sd=r.number("sd", above=0.0))

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

    KEYS = ("enabled", "method", "scale", "grid_points", "refine", "chains", "draws", "warmup",
            "max_tree_depth", "hds_prob", "max_width", "verdict_points", "priors")

    @classmethod
    def read(cls, block, where: str, parameters: tuple) -> PosteriorSpec | None:
        if block is None:
            return None
        r = Reader(block, where, cls.KEYS)
        if not r.boolean("enabled", True):
            return None
        method = r.choice("method", ("grid", "nuts"), cls.method)
        if method == "grid" and len(parameters) > 2:
            raise ValueError(f"config {r.path('method')}: a grid posterior takes 1 or 2 "
                             f"parameters, this experiment fits {len(parameters)}; use nuts")
        scale = r.sub("scale", ("rel_sd", "seed_spread", "sd"))
        if len(scale.block) > 1:
            raise ValueError(f"config {scale.where}: give one of rel_sd, seed_spread, sd; got "
                             f"{sorted(scale.block)}")
        sd = None
        if scale.has("sd"):
            sub = scale.sub("sd")
            if not sub.block:
                raise ValueError(f"config {sub.where} must give a scale per feature")
            sd = {k: sub.number(k, above=0.0) for k in sub.block}
        priors = r.sub("priors")
        boxes = {p.name: p.bounds for p in parameters}
        for name in priors.block:
            if name not in boxes:
                raise ValueError(f"config {priors.path(name)}: {name!r} is not a fitted "
                                 f"parameter ({sorted(boxes)})")
        prob = r.number("hds_prob", cls.hds_prob, above=0.0)
        if not prob < 1:
            raise ValueError(f"config {r.path('hds_prob')} must be < 1, got {prob!r}")
        max_width = r.number("max_width", cls.max_width, above=0.0)
        if max_width > 1:
            raise ValueError(f"config {r.path('max_width')} must be <= 1 (a fraction of the box), "
                             f"got {max_width!r}")
        return cls(method=method,
                   rel_sd=scale.number("rel_sd", above=0.0) if scale.has("rel_sd") else None,
                   seed_spread=scale.integer("seed_spread", low=2) if scale.has("seed_spread")
                   else None, sd=sd,
                   grid_points=r.integer("grid_points", cls.grid_points, low=2),
                   refine=r.integer("refine", cls.refine, low=0),
                   chains=r.integer("chains", cls.chains, low=1),
                   draws=r.integer("draws", cls.draws, low=1),
                   warmup=r.integer("warmup", cls.warmup, low=0),
                   max_tree_depth=r.integer("max_tree_depth", cls.max_tree_depth, low=1),
                   hds_prob=prob, max_width=max_width,
                   verdict_points=r.integer("verdict_points", cls.verdict_points, low=0),
                   priors=tuple(Prior.read(n, b, priors.path(n), boxes[n])
                                for n, b in priors.block.items()))

    def prior(self, name: str, box: tuple[float, float]):
        """The :mod:`eegfit.infer` prior of ``name`` (uniform on ``box`` unless configured)."""
        for p in self.priors:
            if p.name == name:
                return p.distribution(box)
        return None




__all__ = ["PosteriorSpec", "Prior"]
