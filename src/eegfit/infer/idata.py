"""A posterior as ArviZ InferenceData groups in one NetCDF file, readable with plain xarray.

Groups (each a NetCDF group; every variable with ``units`` and ``long_name``; the provenance
given by the caller in every group's attrs):

- ``posterior``: draws per parameter on ``(chain, draw)``: NUTS's, an NPE's (independent, 4
  "chains", ``sampled_from = npe``), or for a grid posterior independent draws resampled from
  the cells (4 x 1000, attr ``sampled_from = grid``).
- ``sample_stats``: NUTS's ``diverging``, ``lp``, ``acceptance_rate``, ``tree_depth``, ``n_steps``,
  ``energy``, ``step_size``; for the grid, ``lp`` of each draw's cell; for an NPE, ``lp``, its
  log density at the draw.
- ``prior``: draws of the prior on ``(chain, draw)``.
- ``observed_data``: the observed features; ``constant_data``: the likelihood's scale per feature
  (``scale_<feature>``) and each parameter's box (``low_<name>``, ``high_<name>``).
- ``grid`` (grid posteriors): cells on ``cell``: centres (``<name>``), ``width_<name>``,
  ``log_density``, ``mass``.
- ``identifiability``: on ``(parameter, interval)``: the HDS's ``lower``, ``upper``, ``mass``
  (NaN past ``n_intervals``); per parameter ``identified``, ``width``, ``truth``, ``truth_level``,
  ``truth_position``, the mean and the 5 % / 95 % quantiles, and NUTS diagnostics (``rhat``,
  ``ess_bulk``, ``ess_tail``, ``mcse_*``; NaN for a grid).

No timestamps: ArviZ's ``created_at`` is dropped, so a rerun writes the same bytes. Read back
with ``arviz.from_netcdf(path)`` or ``xarray.open_dataset(path, group="posterior")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

GROUP_ORDER = ("posterior", "sample_stats", "prior", "observed_data", "constant_data", "grid",
               "identifiability")

STAT_DOCS = {
    "diverging": ("1", "divergent transition (energy error above the threshold)"),
    "lp": ("1", "log posterior density (NUTS: in the sampled, unconstrained space)"),
    "acceptance_rate": ("1", "mean acceptance probability over the trajectory"),
    "tree_depth": ("1", "trajectory doublings"),
    "n_steps": ("1", "leapfrog steps (gradient evaluations) of the transition"),
    "energy": ("1", "Hamiltonian energy"),
    "step_size": ("1", "adapted step size (unconstrained space)"),
}


def _draws_dataset(draws: dict, units: dict, what: str) -> xr.Dataset:
    data = {}
    for name, value in draws.items():
        value = np.asarray(value, dtype=float)
        if value.ndim == 1:
            value = value[None]
        data[name] = (("chain", "draw"), value, {"units": units.get(name, "1"),
                                                 "long_name": f"{what} draws of {name}"})
    first = next(iter(data.values()))[1]
    return xr.Dataset(data, coords={"chain": np.arange(first.shape[0]),
                                    "draw": np.arange(first.shape[1])})


def _verdict_dataset(verdicts: dict, summaries: dict, units: dict) -> xr.Dataset:
    names = list(verdicts)
    n_int = max(len(v.intervals) for v in verdicts.values())
    bounds = np.full((len(names), n_int, 3), np.nan)
    for i, v in enumerate(verdicts.values()):
        bounds[i, :len(v.intervals)] = v.intervals
    unit_list = ", ".join(f"{n}: {units.get(n, '1')}" for n in names)
    pu = f"the parameter's (see units_of_parameter: {unit_list})"
    prob = next(iter(verdicts.values())).prob
    dims = ("parameter", "interval")
    data = {
        "lower": (dims, bounds[..., 0], {"units": pu, "long_name": f"lower bound of each "
                                                                   f"interval of the {prob:g} HDS"}),
        "upper": (dims, bounds[..., 1], {"units": pu, "long_name": f"upper bound of each "
                                                                   f"interval of the {prob:g} HDS"}),
        "interval_mass": (dims, bounds[..., 2], {"units": "1",
                                                  "long_name": "posterior mass of each interval"}),
        "n_intervals": ("parameter", [len(v.intervals) for v in verdicts.values()],
                        {"units": "1", "long_name": f"intervals of the {prob:g} HDS"}),
        "identified": ("parameter", [int(v.identified) for v in verdicts.values()], {
            "units": "1", "long_name": "1 where the HDS is one interval narrower than max_width "
                                       "of the box"}),
        "width": ("parameter", [v.width for v in verdicts.values()],
                  {"units": pu, "long_name": "total width of the HDS"}),
        "truth": ("parameter", [np.nan if v.truth is None else v.truth
                                for v in verdicts.values()],
                  {"units": pu, "long_name": "ground truth (NaN for measured data)"}),
        "truth_level": ("parameter", [v.truth_level for v in verdicts.values()], {
            "units": "1", "long_name": "posterior mass denser than at the truth: the truth is "
                                       "inside the p HDS exactly when truth_level < p"}),
        "truth_position": ("parameter", [v.truth_position for v in verdicts.values()], {
            "units": "", "long_name": "truth relative to the HDS: inside, below, above, between"}),
        "units_of_parameter": ("parameter", [units.get(n, "1") for n in names],
                               {"units": "", "long_name": "unit of the parameter"}),
    }
    for key, (unit, long_name) in {
            "mean": (pu, "posterior mean"), "q05": (pu, "5 % posterior quantile"),
            "q95": (pu, "95 % posterior quantile"), "sd": (pu, "posterior standard deviation"),
            "rhat": ("1", "rank-normalised split R-hat (NaN for a grid)"),
            "ess_bulk": ("1", "bulk effective sample size (NaN for a grid)"),
            "ess_tail": ("1", "tail effective sample size (NaN for a grid)"),
            "mcse_mean": (pu, "Monte Carlo standard error of the mean (NaN for a grid)"),
            "mcse_q05": (pu, "Monte Carlo standard error of the 5 % quantile (NaN for a grid)"),
            "mcse_q95": (pu, "Monte Carlo standard error of the 95 % quantile (NaN for a grid)"),
    }.items():
        data[key] = ("parameter", [summaries[n].get(key, np.nan) for n in names],
                     {"units": unit, "long_name": long_name})
    v0 = next(iter(verdicts.values()))
    return xr.Dataset(data, coords={"parameter": names, "interval": np.arange(n_int)},
                      attrs={"hds_prob": v0.prob, "max_width": v0.max_width})


def _posterior_groups(problem, grid, nuts, grid_draws: int, seed: int, npe=None) -> dict:
    """The posterior draws (NUTS, an NPE's, or drawn from the grid's cells) and their stats."""
    units = problem.units
    groups = {}
    if npe is not None:
        groups["posterior"] = _draws_dataset(npe.draws, units, "NPE")
        groups["posterior"].attrs.update(sampled_from="npe", inference_library="flowjax")
        groups["sample_stats"] = xr.Dataset(
            {"lp": (("chain", "draw"), npe.lp, {
                "units": "1", "long_name": "log density of the NPE at the draw (parameter "
                                           "units)"})}, coords=groups["posterior"].coords)
    elif nuts is not None:
        groups["posterior"] = _draws_dataset(nuts.draws, units, "NUTS")
        groups["posterior"].attrs.update(sampled_from="nuts", inference_library="blackjax",
                                         warmup_steps=nuts.warmup)
        stats = {k: (("chain", "draw"), np.asarray(v), {"units": STAT_DOCS[k][0],
                                                       "long_name": STAT_DOCS[k][1]})
                 for k, v in nuts.stats.items()}
        groups["sample_stats"] = xr.Dataset(stats, coords=groups["posterior"].coords)
        groups["sample_stats"].attrs["n_evaluations"] = nuts.n_evaluations
    elif grid is not None:
        draws, cell = grid.draws(grid_draws, seed)
        chains = 4 if grid_draws % 4 == 0 else 1  # independent draws, shown as 4 "chains"
        draws = {n: v.reshape(chains, -1) for n, v in draws.items()}
        cell = cell.reshape(chains, -1)
        groups["posterior"] = _draws_dataset(draws, units, "grid posterior")
        groups["posterior"].attrs.update(sampled_from="grid", inference_library="eegfit.infer")
        groups["sample_stats"] = xr.Dataset(
            {"lp": (("chain", "draw"), grid.log_density[cell],
                    {"units": "1", "long_name": "log posterior density of the draw's cell"})},
            coords=groups["posterior"].coords)
    else:
        raise ValueError("inference_data needs a grid posterior or NUTS draws")
    return groups


def _data_groups(problem) -> dict:
    """``observed_data`` (the observed features) and ``constant_data`` (scales and box)."""
    units, groups = problem.units, {}
    fu = problem.feature_units
    groups["observed_data"] = xr.Dataset(
        {k: ((), float(v), {"units": fu.get(k, "1"), "long_name": f"observed {k}"})
         for k, v in problem.observed.items()})
    const = {f"scale_{k}": ((), float(v), {"units": fu.get(k, "1"), "long_name":
                                           f"likelihood standard deviation of {k}"})
             for k, v in problem.scale.items()}
    for n, (lo, hi) in problem.boxes.items():
        const[f"low_{n}"] = ((), lo, {"units": units.get(n, "1"), "long_name": f"box of {n}: low"})
        const[f"high_{n}"] = ((), hi, {"units": units.get(n, "1"),
                                       "long_name": f"box of {n}: high"})
    groups["constant_data"] = xr.Dataset(const)
    return groups


def _grid_group(grid, units: dict) -> xr.Dataset:
    """The grid's cells: centres, widths, log density and mass."""
    cells = {n: ("cell", grid.centres[:, j], {"units": units.get(n, "1"),
                                              "long_name": f"cell centre: {n}"})
             for j, n in enumerate(grid.names)}
    cells.update({f"width_{n}": ("cell", grid.widths[:, j], {
        "units": units.get(n, "1"), "long_name": f"cell width along {n}"})
        for j, n in enumerate(grid.names)})
    cells["log_density"] = ("cell", grid.log_density, {
        "units": "1", "long_name": "unnormalised log posterior density at the cell centre"})
    cells["mass"] = ("cell", grid.mass, {"units": "1", "long_name": "posterior mass"})
    return xr.Dataset(cells, attrs={"n_evaluations": grid.n_evaluations})


def inference_data(problem, *, verdicts: dict, summaries: dict, grid=None, nuts=None, npe=None,
                   prior_draws: int = 1000, grid_draws: int = 4000, seed: int = 0,
                   attrs: dict | None = None) -> dict[str, xr.Dataset]:
    """The groups of a posterior (see the module docstring), as ``{group: Dataset}`` in
    :data:`GROUP_ORDER`; :func:`to_arviz` makes them an ``arviz.InferenceData``.

    Args:
        problem: the :class:`~eegfit.infer.Problem`.
        verdicts: name -> :class:`~eegfit.infer.Identifiability`.
        summaries: name -> ``{mean, q05, q95, sd, rhat, ...}`` (missing ones are NaN).
        grid: a :class:`~eegfit.infer.GridPosterior` (its cells, and the posterior draws when
            ``nuts`` and ``npe`` are None); ``nuts``: a :class:`~eegfit.infer.NutsResult`;
            ``npe``: an :class:`~eegfit.infer.npe.NpeResult`.
        attrs: flat provenance attrs for every group.
    """
    import jax  # noqa: PLC0415

    units, attrs = problem.units, dict(attrs or {})
    groups = _posterior_groups(problem, grid, nuts, grid_draws, seed, npe)
    rng = jax.random.key(int(seed))
    prior = {n: np.asarray(problem.priors[n].sample(jax.random.fold_in(rng, i), prior_draws))
             for i, n in enumerate(problem.names)}
    groups["prior"] = _draws_dataset(prior, units, "prior")
    groups.update(_data_groups(problem))
    if grid is not None:
        groups["grid"] = _grid_group(grid, units)
    groups["identifiability"] = _verdict_dataset(verdicts, summaries, units)
    for ds in groups.values():
        ds.attrs.update(attrs)
    return {g: groups[g] for g in GROUP_ORDER if g in groups}


def to_arviz(groups: dict):
    """``arviz.InferenceData`` of the groups (custom ones, ``grid`` and ``identifiability``,
    included)."""
    from eegfit.infer.nuts import _arviz  # noqa: PLC0415

    return _arviz().InferenceData(**groups)


def write(groups, path) -> Path:
    """Write the groups (a dict, or an ``arviz.InferenceData``) to one NetCDF file, atomically
    (temporary file, then rename), in a fixed group order, without ``created_at``."""
    if not isinstance(groups, dict):
        groups = {g: groups[g] for g in groups.groups()}
    from eegfit.io import atomic_path  # noqa: PLC0415

    order = [g for g in GROUP_ORDER if g in groups] + [g for g in groups if g not in GROUP_ORDER]
    with atomic_path(path) as tmp:
        for i, name in enumerate(order):
            ds = groups[name].copy()
            ds.attrs.pop("created_at", None)
            ds.to_netcdf(tmp, mode="w" if i == 0 else "a", group=name, engine="netcdf4")
    return Path(path)


def read(path) -> dict[str, xr.Dataset]:
    """Every group of a posterior file, loaded, as ``{group: Dataset}``."""
    import netCDF4  # noqa: PLC0415

    with netCDF4.Dataset(path) as nc:
        names = list(nc.groups)
    return {g: xr.load_dataset(path, group=g, engine="netcdf4") for g in names}


__all__ = ["GROUP_ORDER", "inference_data", "read", "to_arviz", "write"]
