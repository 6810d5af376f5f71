"""The posterior of every target of an experiment whose ``posterior:`` block is on, written once
for every kind that supplies ``simulate_features`` (the features its loss compares).

The likelihood is on the target's observed features, the model's features computed with the
fit's own noise key (so the posterior and the point fits share one objective); the scale per
feature comes from the block (:class:`~eegfit.experiments.spec.PosteriorSpec`). NUTS chains
start from the nevergrad fit's lowest-loss distinct candidates where that fit exists.

>>> groups = posterior.run(kind, target, target_ds, nevergrad_fit)   # InferenceData groups
>>> eegfit.infer.idata.write(groups, "results/<exp>/posteriors/<label>/seed=<seed>.nc")
>>> verdict = posterior.verdict_scan(kind)     # one parameter: identified? over the box
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from eegfit import infer
from eegfit.experiments.base import Kind, Target, as_float, keys

DEFAULT_SEED_SPREAD = 16
"""Drive seeds of the seed-to-seed spread when the block gives no scale and the drive is noisy."""


def _observed_features(kind: Kind, observed) -> dict:
    observed = kind.posterior_observed(observed)
    if not isinstance(observed, dict):
        raise ValueError(f"experiment {kind.spec.name}: a posterior needs the observed features "
                         f"as a mapping name -> value, got {type(observed).__name__}")
    return {k: float(np.asarray(v)) for k, v in observed.items()}


def group(feature: str) -> str:
    """The feature an entry belongs to: ``fc`` of ``fc[0,3]``, ``rms`` of ``rms``."""
    return feature.partition("[")[0]


def scale(kind: Kind, observed: dict, truth: dict | None,
          given: dict | None = None) -> tuple[dict, str]:
    """The likelihood's standard deviation per feature and how it was set (for the attrs):
    the block's ``sd`` (per feature, or per vector feature for all its entries), else the
    target's own scale (``given``: a recording's whitened log-PSD, scale 1), else ``rel_sd`` or the seed-to-seed
    spread."""
    spec = kind.spec.posterior
    where = f"config experiments.{kind.spec.name}.posterior.scale"
    if spec.sd is not None:
        sd = {k: spec.sd.get(k, spec.sd.get(group(k))) for k in observed}
        missing = sorted({group(k) for k, v in sd.items() if v is None})
        if missing:
            raise ValueError(f"{where}.sd gives no scale for the feature(s) {missing}")
        return sd, "sd given per feature"
    if given is not None and spec.rel_sd is None and spec.seed_spread is None:
        return given, "the target's own likelihood"
    n_seeds = spec.seed_spread or (DEFAULT_SEED_SPREAD if kind.noisy and spec.rel_sd is None
                                   else None)
    if n_seeds is None:
        rel_sd = spec.rel_sd or 0.01
        return infer.relative_scale(observed, rel_sd), f"rel_sd {rel_sd:g} x |target feature|"
    if truth is None:
        raise ValueError(f"{where}: a seed-to-seed spread is taken at the truth, and this target "
                         f"has none: give rel_sd or sd")
    values = {n: as_float(v) for n, v in truth.items()}
    spread = infer.spread_scale(lambda key: kind.simulate_features(values, key),
                                [keys(s)[0] for s in range(n_seeds)], names=list(observed))
    return spread, f"seed-to-seed spread over {n_seeds} drive seeds at the truth"


def problem(kind: Kind, target: Target, observed) -> tuple[infer.Problem, str]:
    """The :class:`~eegfit.infer.Problem` of one target, and how its scale was set."""
    spec = kind.spec
    raw, given = observed, kind.posterior_scale(observed)
    observed = _observed_features(kind, observed)
    sd, how = scale(kind, observed, target.truth, given)
    bounds = {p.name: p.bounds for p in spec.parameters}
    priors = {n: spec.posterior.prior(n, b) for n, b in bounds.items()}
    return infer.problem(kind.simulate_features, observed, sd, bounds,
                         {n: p for n, p in priors.items() if p is not None},
                         context=kind.posterior_context(raw, target.seed), units=kind.units(),
                         feature_units={n: kind.aux_units().get(group(n), "1")
                                        for n in observed}), how


def starts_from_fit(fit: xr.Dataset | None, problem_: infer.Problem, chains: int) -> dict | None:
    """The ``chains`` lowest-loss distinct candidates of a fit's record (cycled when there are
    fewer), moved a hair inside the box; None without a fit."""
    if fit is None:
        return None
    loss = np.asarray(fit["loss"].values, float).ravel()
    points = np.stack([np.asarray(fit[f"param_{n}"].values, float).ravel()
                       for n in problem_.names], axis=-1)
    ok = np.isfinite(loss) & np.all(np.isfinite(points), axis=1)
    if not ok.any():
        return None
    loss, points = loss[ok], points[ok]
    _, first = np.unique(np.round(points, 9), axis=0, return_index=True)
    best = first[np.argsort(loss[first], kind="stable")]
    picks = points[np.resize(best, chains)]
    out = {}
    for j, n in enumerate(problem_.names):
        lo, hi = problem_.boxes[n]
        pad = 1e-3 * (hi - lo)
        out[n] = np.clip(picks[:, j], lo + pad, hi - pad)
    return out


def run(kind: Kind, target: Target, target_ds: xr.Dataset,
        nevergrad_fit: xr.Dataset | None = None) -> dict[str, xr.Dataset]:
    """The posterior of one target as InferenceData groups with provenance
    (:func:`eegfit.infer.idata.write` writes them)."""
    from eegfit.experiments.provenance import provenance  # noqa: PLC0415

    spec = kind.spec.posterior
    prob, how = problem(kind, target, kind.observed(target_ds))
    post = infer.posterior(prob, spec.method, truth=target.truth, hds_prob=spec.hds_prob,
                           max_width=spec.max_width, grid_points=spec.grid_points,
                           refine=spec.refine, chains=spec.chains, draws=spec.draws,
                           warmup=spec.warmup, seed=int(target.seed),
                           starts=starts_from_fit(nevergrad_fit, prob, spec.chains),
                           max_tree_depth=spec.max_tree_depth)
    attrs = provenance(kind, "posterior", target, scale=how,
                       starts="nevergrad fit" if nevergrad_fit is not None else "prior draws")
    return post.groups(attrs=attrs, seed=int(target.seed))


def verdict_scan(kind: Kind) -> xr.Dataset:
    """One parameter: the grid posterior's verdict at ``verdict_points`` truths over the box
    (cell centres), each observed without noise (seed 0's target noise with a noisy drive): where
    in the box the data would identify the parameter. One batched simulation gives every
    target's features; the posteriors reuse one compiled program."""
    spec, post_spec = kind.spec, kind.spec.posterior
    (param,) = spec.parameters
    lo, hi = param.bounds
    n = post_spec.verdict_points
    truths = lo + (hi - lo) * (np.arange(n) + 0.5) / n
    feats = kind.simulate_features({param.name: as_float(truths)}, keys(0)[0])
    names = list(feats)  # the features the loss compares
    out = {k: np.full(n, np.nan) for k in ("identified", "n_intervals", "width", "truth_level")}
    how = ""
    for i, truth in enumerate(truths):
        observed = {k: float(np.asarray(feats[k])[i]) for k in names}
        target = Target(f"{param.name}={truth:g}", {param.name: float(truth)}, 0)
        prob, how = problem(kind, target, observed)
        verdict = infer.posterior(prob, "grid", truth=target.truth, hds_prob=post_spec.hds_prob,
                                  max_width=post_spec.max_width,
                                  grid_points=post_spec.grid_points,
                                  refine=post_spec.refine).verdicts[param.name]
        out["identified"][i] = int(verdict.identified)
        out["n_intervals"][i] = len(verdict.intervals)
        out["width"][i] = verdict.width
        out["truth_level"][i] = verdict.truth_level
    unit = kind.units()[param.name]
    data = {
        "identified": ("value", out["identified"].astype(np.int8), {
            "units": "1", "long_name": f"1 where the {post_spec.hds_prob:g} HDS of {param.name} "
                                       f"is one interval narrower than {post_spec.max_width:g} "
                                       f"of the box"}),
        "n_intervals": ("value", out["n_intervals"].astype(np.int16), {
            "units": "1", "long_name": "intervals of the HDS"}),
        "width": ("value", out["width"], {"units": unit, "long_name": "total width of the HDS"}),
        "truth_level": ("value", out["truth_level"], {
            "units": "1", "long_name": "posterior mass denser than at the truth"}),
    }
    for k in names:
        data[f"observed_{k}"] = ("value", np.asarray(feats[k], float), {
            "units": kind.aux_units().get(k, "1"), "long_name": f"the target's {k}"})
    return xr.Dataset(data, coords={"value": ("value", truths, {"units": unit,
                                                                 "long_name": param.name})},
                      attrs={"parameter": param.name, "scale": how,
                             "hds_prob": post_spec.hds_prob, "max_width": post_spec.max_width})


__all__ = ["DEFAULT_SEED_SPREAD", "problem", "run", "scale", "starts_from_fit", "verdict_scan"]
