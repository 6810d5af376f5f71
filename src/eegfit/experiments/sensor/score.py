"""The sensor kind's posterior likelihood: a few summaries of the channel likelihood's entries,
with the covariance a pilot of the model's own realisations measures.

Why not the channel likelihood itself. It counts every (bin, channel) entry as independent with
the Welch statistics' variance, and neither holds for a noisy network seen through a lead field:
its alpha waxes and wanes over seconds (a channel's bins move together) and volume conduction
makes the channels share most of their signal. Twice the loss at the truth keeps its chance-level
mean but varies 19.8x as much as the chi-square it assumes (docs/sensor.md). And its value at a
parameter comes from one realisation of a chaotic network: on the 4 s demo the loss ripples by
45-77 (sd over noise keys; 28 with the mean of 16 realisations) from one k to the next, so even
a posterior inflated to the right width (the ``19x`` its score's variance says) is a comb of
spikes. A full covariance of the 2,000-odd entries cannot be estimated from tens of realisations
either (the recording kind's ``covariance: estimated`` measures 39 bins from 320).

What the posterior uses instead (a Gaussian synthetic likelihood of a few summaries: Wood 2010;
the compression idea of MOPED, Heavens, Jimenez & Lahav 2000). The target's job makes a pilot:
``pilot_realisations`` independent realisations of the model at every node of a grid of
``pilot_grid_points`` per fitted parameter over the box, each reduced to the channel
likelihood's whitened, gain-free entries (:func:`eegfit.signal.sensor.whitened_entries`; with
``aperiodic`` the background profiled against the target). Their means ``mu_g`` say how the
spectra move across the box; the summaries are the entries projected on the ``3 d`` leading
principal directions ``U`` of those means (orthonormal). With ``theta_0`` the node whose mean is
nearest the target's entries ``y``:

    t = U^T (y - mu_0) ~ N(m(theta), K),   m(theta) = U^T (mu(theta) - mu_0),
    K = K_1 (v_target / v_1 + 1 / P),

``m`` interpolated linearly between the nodes (:func:`predicted`), ``K_1`` the covariance of
``U^T z`` over the single realisations at the nodes next to ``theta_0``, scaled by the target's
analytic log-PSD variance over one realisation's (``v``, :func:`likelihood.log_variance` of
their Welch degrees of freedom; the target shares the model's dynamics) plus the noise of the
nodes' means over ``P`` realisations. The posterior block's Gaussian takes ``L^-1 t``
(``L L^T = K``) against ``L^-1 m(theta)``, scale 1 (:meth:`Sensor.simulate_features`): no
simulation per posterior evaluation, so grid and NUTS see a smooth likelihood, and a summary
curve that folds back (two couplings that move the spectra alike) gives two modes, not one.
Where the entries' variance equals the analytic one, ``K_1 = v_1 I`` (the channel likelihood's
own width: the calibration benchmark's break-check). ``score_inflation`` records by how much
the channel likelihood's score at ``theta_0`` varies more than it assumes
(``tr(H^-1 K_J) / (d v_1)``, ``J`` its derivative by central differences of the nodes' means).

Limits: the summaries keep what the box's spectra differ by at the grid's resolution, not
every detail of the 2,000-odd entries; ``m`` is linear between nodes (9 per parameter over the
box by default); ``K`` is measured near ``theta_0`` and held over the box; the cost is
``pilot_grid_points ** d x pilot_realisations`` simulations per target (144 for one parameter,
1,296 for two at the defaults). Made once per target in the target's job when the
``posterior:`` block is on, kept in the target's file; the fits' loss is the channel likelihood,
unchanged.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from eegfit.experiments.base import Target
from eegfit.experiments.reader import Reader
from eegfit.experiments.recording.pilot import PILOT_STREAM
from eegfit.signal import likelihood

DEFAULT = {"pilot_realisations": 16, "pilot_grid_points": 9}
DIRECTIONS_PER_PARAMETER = 3
"""Summaries per fitted parameter: the leading principal directions of the nodes' means."""
BATCH = 8
"""Realisations simulated in one call (memory: each holds the 76 regions' whole trace)."""


def read(r: Reader) -> dict:
    """The sensor block's ``likelihood`` key, checked (a ``ValueError`` naming the key)."""
    sub = r.sub("likelihood", tuple(DEFAULT), default=dict(DEFAULT))
    return {"pilot_realisations": sub.integer("pilot_realisations",
                                              DEFAULT["pilot_realisations"], low=4),
            "pilot_grid_points": sub.integer("pilot_grid_points", DEFAULT["pilot_grid_points"],
                                             low=2)}


def on(spec) -> bool:
    """Whether a target's job makes the pilot: the posterior block is on."""
    return spec.posterior is not None


@functools.lru_cache(maxsize=8)
def _entries_program(kind):
    """``(values (d,), keys (batch,), context) -> entries (batch, n)``: one compiled program."""
    names = kind.spec.names

    def one(values, key, context):
        return kind.entries(kind.model_at(dict(zip(names, values))), key, *context)
    return jax.jit(jax.vmap(one, in_axes=(None, 0, None)))


def realisation_entries(kind, values, keys, context) -> np.ndarray:
    """``(len(keys), n)``: the whitened entries at ``values`` (``spec.names`` order), one
    realisation per key; ``context`` is ``(gain, decorrelate, log_psd)``."""
    program, dtype = _entries_program(kind), jnp.result_type(float)
    v = jnp.asarray(values, dtype)
    return np.concatenate([np.asarray(program(v, keys[i:i + BATCH], context), float)
                           for i in range(0, len(keys), BATCH)])


def grid_axes(spec) -> list[np.ndarray]:
    """The pilot's nodes on each parameter: ``pilot_grid_points`` over its box."""
    return [np.linspace(*p.bounds, spec.likelihood["pilot_grid_points"])
            for p in spec.parameters]


def pilot(kind, observed: dict, seed: int) -> dict:
    """The pilot (module docstring): ``x0`` (the node whose mean entries are nearest the
    target's), the summaries' directions ``u`` ``(n, m)`` (the leading principal directions of
    the nodes' mean entries), the summary ``table`` ``(G,) * d + (m,)`` at every node, the
    target's ``t_obs``, ``k1`` pooled over the nodes next to ``x0``, and ``inflation``."""
    spec = kind.spec
    axes = grid_axes(spec)
    shape = tuple(len(a) for a in axes)
    nodes = np.array(list(itertools.product(*axes)), dtype=float)      # (G ** d, d)
    keys = jax.random.split(jax.random.fold_in(jax.random.key(int(seed)), PILOT_STREAM),
                            spec.likelihood["pilot_realisations"])
    context = kind.entries_context(observed)
    z = np.stack([realisation_entries(kind, x, keys, context) for x in nodes])  # (m, P, n)
    if not np.all(np.isfinite(z)):
        raise ValueError(f"config experiments.{spec.name}.likelihood: the pilot's realisations "
                         f"have entries that are not finite")
    means = z.mean(axis=1)
    y = np.asarray(kind.target_entries(observed), float)
    flat0 = int(np.argmin(np.sum((means - y) ** 2, axis=-1)))
    i0 = np.unravel_index(flat0, shape)
    n_dir = min(DIRECTIONS_PER_PARAMETER * len(axes), len(nodes) - 1)
    _, _, vt = np.linalg.svd(means - means.mean(axis=0), full_matrices=False)
    u = vt[:n_dir].T                                                    # (n, m), orthonormal
    near = np.all(np.abs(np.array(list(np.ndindex(*shape))) - np.array(i0)) <= 1, axis=1)
    deviations = (z - means[:, None])[near]                             # (m_near, P, n)

    def pooled(directions):
        dev = deviations @ directions
        return np.einsum("mpi,mpj->ij", dev, dev) / (dev.shape[0] * (dev.shape[1] - 1))
    mu = means.reshape(*shape, -1)
    return {"x0": nodes[flat0], "table": (mu - mu[i0]) @ u, "t_obs": u.T @ (y - mu[i0]),
            "k1": pooled(u), "axes": axes, "inflation": inflation(mu, i0, axes, pooled)}


def inflation(mu, i0, axes, pooled) -> float:
    """``tr(H^-1 K_J) / d`` in units of one realisation's analytic variance (not divided
    here): the variance of the channel likelihood's score ``J^T z`` at ``x0`` (``J`` by central
    differences of the nodes' means) over the one the likelihood assumes, ``v_1 H``."""
    columns = []
    for j, a in enumerate(axes):
        lo, hi = max(i0[j] - 1, 0), min(i0[j] + 1, len(a) - 1)
        up, down = list(i0), list(i0)
        up[j], down[j] = hi, lo
        columns.append((mu[tuple(up)] - mu[tuple(down)]) / (a[hi] - a[lo]))
    jac = np.stack(columns, axis=1)
    return float(np.trace(np.linalg.solve(jac.T @ jac, pooled(jac)))) / jac.shape[1]


def covariance(k1, target_variance: float, single_variance: float, n: int) -> np.ndarray:
    """``K = K_1 (v_target / v_1 + 1 / P)`` (module docstring)."""
    return np.asarray(k1) * (target_variance / single_variance + 1.0 / n)


def dataset(kind, target: Target, observed: dict) -> xr.Dataset:
    """The target's pilot: ``score_table`` (the score at every node), ``score_observed``
    (the target's), ``score_covariance_1`` (``K_1``), ``score_inflation`` and ``pilot_<p>``."""
    spec = kind.spec
    made = pilot(kind, observed, target.seed)
    single = likelihood.log_variance(kind.realisation_dof) / observed["sd"] ** 2
    units = kind.units()
    names = list(spec.names)
    node_dims = tuple(f"node_{n}" for n in names)
    data = {
        "score_table": ((*node_dims, "direction"), made["table"], {
            "units": "1", "long_name": "the summaries U^T (mu - mu_0) of the mean entries of "
            "the pilot's realisations at each node"}),
        "score_observed": ("direction", made["t_obs"], {
            "units": "1", "long_name": "the target's summaries U^T (y - mu_0)"}),
        "score_covariance_1": (("direction", "direction_2"), made["k1"], {
            "units": "1", "long_name": "K_1: the covariance of U^T z over the pilot's single "
            "realisations (the nodes next to theta_0)",
            "pilot_realisations": spec.likelihood["pilot_realisations"],
            "single_variance": float(single)}),
        "score_inflation": ((), made["inflation"] / single, {
            "units": "1", "long_name": "tr(H^-1 K_J) / (d v_1): the variance of the channel "
            "likelihood's score at theta_0 over the one it assumes"})}
    for name, value in zip(names, made["x0"]):
        data[f"pilot_{name}"] = ((), float(value), {
            "units": units.get(name, "1"), "long_name": f"{name} of the pilot's node nearest "
            f"the target (theta_0)"})
    coords = {}
    for name, dim, axis in zip(names, node_dims, made["axes"]):
        coords[dim] = (dim, axis, {"units": units.get(name, "1"),
                                   "long_name": f"{name} of the pilot's nodes"})
    return xr.Dataset(data, coords=coords)


def observed_score(kind, target_ds: xr.Dataset, observed: dict) -> dict:
    """What the posterior reads from a target made with its pilot: the score table, the grid's
    origin and spacing, ``L^-1`` (``L L^T = K``) and the whitened score ``L^-1 t`` ({} without
    a pilot)."""
    if "score_table" not in target_ds:
        if on(kind.spec):
            raise ValueError(f"config experiments.{kind.spec.name}.posterior is on but the target "
                             f"{target_ds.attrs.get('target', '')!r} holds no pilot (made under "
                             f"another config: remake it)")
        return {}
    cov = target_ds["score_covariance_1"]
    single = float(cov.attrs["single_variance"])
    target_var = likelihood.log_variance(float(target_ds["psd_dof"])) / observed["sd"] ** 2
    k = covariance(cov.values, target_var, single, int(cov.attrs["pilot_realisations"]))
    chol_inv = np.linalg.inv(np.linalg.cholesky(k))
    axes = [target_ds[f"node_{n}"].values for n in kind.spec.names]
    table = np.asarray(target_ds["score_table"].values, float)
    return {"score_table": np.moveaxis(table, -1, 0), "score_low": np.array([a[0] for a in axes]),
            "score_step": np.array([a[1] - a[0] for a in axes]), "score_whiten": chol_inv,
            "score_w": chol_inv @ np.asarray(target_ds["score_observed"].values, float)}


def predicted(context, delta_nodes) -> jax.Array:
    """The whitened score at parameter values ``delta_nodes`` ``(d, ...)`` in node units (0 at
    the first node): the table interpolated linearly, then ``L^-1``; ``(d, ...)``."""
    table, whiten = context
    coords = list(delta_nodes)
    t = jnp.stack([jax.scipy.ndimage.map_coordinates(table[j], coords, order=1, mode="nearest")
                   for j in range(table.shape[0])])
    return jnp.tensordot(whiten, t, axes=1)


__all__ = ["DEFAULT", "covariance", "dataset", "grid_axes", "observed_score", "on", "pilot",
           "predicted", "read", "realisation_entries"]
