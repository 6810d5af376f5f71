"""One call from a problem to its posterior, summaries and identifiability verdicts.

``method="grid"`` (one or two parameters): the grid posterior finds and weighs every mode; the
verdict comes from its exact marginals. ``method="nuts"``: NUTS chains; the verdict comes from a
kernel density estimate of the pooled draws, trusted where R-hat < 1.01 (chains in different
modes raise it); with one or two parameters the grid posterior is computed too, as the reference
(``reference_grid``), and kept in the file. ``method="npe"``: ``draws`` independent draws of a
trained neural posterior estimator (``estimator``, :mod:`eegfit.infer.npe`), the verdict from
their kernel density estimate; no simulation runs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from eegfit.infer.grid import GridPosterior, grid_posterior
from eegfit.infer.hds import Identifiability, identifiability, marginal_of_draws
from eegfit.infer.nuts import NutsResult, diagnostics, nuts
from eegfit.infer.problem import Problem

METHODS = ("grid", "nuts", "npe")


@dataclasses.dataclass(frozen=True)
class Posterior:
    """A problem's posterior: the grid and/or NUTS result, per-parameter summaries (``mean``,
    ``sd``, ``q05``, ``q95``; NUTS diagnostics where sampled) and verdicts."""

    problem: Problem
    method: str
    grid: GridPosterior | None
    nuts: NutsResult | None
    summaries: dict
    verdicts: dict[str, Identifiability]
    npe: object = None

    def groups(self, *, attrs: dict | None = None, seed: int = 0) -> dict:
        """The InferenceData groups (:func:`eegfit.infer.idata.inference_data`)."""
        from eegfit.infer.idata import inference_data  # noqa: PLC0415

        return inference_data(self.problem, verdicts=self.verdicts, summaries=self.summaries,
                              grid=self.grid, nuts=self.nuts, npe=self.npe, seed=seed,
                              attrs={**(attrs or {}), "method": self.method})

    @property
    def n_evaluations(self) -> int:
        """Model evaluations of the method's own result (NUTS: gradient evaluations; NPE:
        none per target)."""
        if self.method == "npe":
            return 0
        return self.nuts.n_evaluations if self.method == "nuts" else self.grid.n_evaluations


def posterior(problem: Problem, method: str = "grid", *, truth: dict | None = None,
              hds_prob: float = 0.9, max_width: float = 0.1, grid_points: int = 241,
              refine: int = 2, chains: int = 4, draws: int = 500, warmup: int = 500,
              seed: int = 0, starts: dict | None = None, max_tree_depth: int = 8,
              reference_grid: bool = True, estimator=None) -> Posterior:
    """The posterior of ``problem`` by ``method`` (see the module docstring); ``truth`` (name ->
    value) places the ground truth relative to each HDS. Every setting is checked before any
    simulation runs (``ValueError`` naming it)."""
    if method not in METHODS:
        raise ValueError(f"posterior method must be one of {list(METHODS)}, got {method!r}")
    if not 0 < hds_prob < 1:
        raise ValueError(f"hds_prob must lie in (0, 1), got {hds_prob!r}")
    if not 0 < max_width <= 1:
        raise ValueError(f"max_width must lie in (0, 1], got {max_width!r}")
    if method == "nuts":  # check the sampler's settings before the reference grid runs
        for name, value, low in (("chains", chains, 1), ("draws", draws, 1),
                                 ("warmup", warmup, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"NUTS {name} must be an integer >= {low}, got {value!r}")
    drawn = None
    if method == "npe":
        if estimator is None:
            raise ValueError("posterior method 'npe' needs a trained estimator")
        if tuple(estimator.names) != tuple(problem.names):
            raise ValueError(f"NPE estimator infers {list(estimator.names)}, the problem "
                             f"{list(problem.names)}")
        from eegfit.infer.npe.estimator import posterior_draws  # noqa: PLC0415

        drawn = posterior_draws(estimator, problem.observed, draws, seed)
    truth = dict(truth or {})
    grid = None
    if method == "grid" or (method == "nuts" and reference_grid and len(problem.names) <= 2):
        grid = grid_posterior(problem, grid_points, refine=refine)
    sampled = None
    summaries = {n: {} for n in problem.names}
    if method == "nuts":
        sampled = nuts(problem, chains=chains, draws=draws, warmup=warmup, seed=seed,
                       starts=starts, max_tree_depth=max_tree_depth)
        for n, d in diagnostics(sampled.draws).items():
            summaries[n].update(d)
    draws_of = sampled if method == "nuts" else drawn
    verdicts = {}
    for n in problem.names:
        if method == "grid":
            marginal = grid.marginal(n)
        else:
            marginal = marginal_of_draws(draws_of.draws[n], problem.boxes[n])
        if method != "grid":
            x = draws_of.draws[n].ravel()
            q05, q95 = np.quantile(x, [0.05, 0.95])
            summaries[n].update(mean=float(x.mean()), sd=float(x.std(ddof=1)), q05=float(q05),
                                q95=float(q95))
        else:
            q05, q95 = marginal.quantile([0.05, 0.95])
            summaries[n].update(mean=marginal.mean(), sd=marginal.sd(), q05=float(q05),
                                q95=float(q95))
        verdicts[n] = identifiability(n, marginal, problem.boxes[n], prob=hds_prob,
                                      max_width=max_width, truth=truth.get(n))
    return Posterior(problem, method, grid, sampled, summaries, verdicts, drawn)


__all__ = ["METHODS", "Posterior", "posterior"]
