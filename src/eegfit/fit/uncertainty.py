"""Curvature-based uncertainty of a fit: the Hessian of the loss at the optimum (Laplace).

For a loss that is a sum of squared relative feature errors,
``L(theta) = sum_i ((f_i(theta) - f_i*) / f_i*) ** 2``, and target features measured with an
independent relative error of standard deviation ``rel_sd``, the negative log-likelihood is
``L / (2 rel_sd**2)``, so the Laplace approximation of the posterior covariance is
``2 rel_sd**2 * inv(H)`` with ``H`` the Hessian of ``L`` at the optimum. A parameter is
identifiable where ``H`` is positive definite; its small eigenvalues name the sloppy directions.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Curvature(NamedTuple):
    """The local shape of a loss at a point, in the parameters' own units.

    Attributes:
        names: parameter names, the order of every axis below.
        hessian: ``d2L / dtheta_i dtheta_j``, shape ``(n, n)``, units 1 / (unit_i unit_j).
        eigenvalues: of the Hessian, ascending, shape ``(n,)``.
        covariance: ``2 rel_sd**2 inv(H)``, shape ``(n, n)``; NaN where ``H`` is not positive
            definite (no curvature-based uncertainty exists there).
        std: square root of the covariance's diagonal, shape ``(n,)`` (the 1-sigma uncertainty).
        correlation: covariance scaled to unit diagonal, shape ``(n, n)``.
        positive_definite: whether every eigenvalue is > 0.
    """

    names: tuple[str, ...]
    hessian: np.ndarray
    eigenvalues: np.ndarray
    covariance: np.ndarray
    std: np.ndarray
    correlation: np.ndarray
    positive_definite: bool


def loss_hessian(loss_fn, model_at, values: dict) -> np.ndarray:
    """Hessian of ``loss_fn(model_at(values))[0]`` with respect to the scalar ``values``.

    Args:
        loss_fn: ``loss_fn(model) -> (loss, aux)``, as given to a :class:`eegfit.Fitter`.
        model_at: ``values -> model`` (e.g. ``Fitter.model_at`` or ``Split.rebuild``).
        values: name -> scalar parameter value, the point (e.g. ``FitResult.best_params``).

    Returns:
        The ``(n, n)`` Hessian as float64 NumPy, axes in the order of ``values``.
    """
    names = tuple(values)
    dtype = jnp.result_type(float)
    x0 = jnp.asarray([float(values[n]) for n in names], dtype)

    def scalar_loss(x):
        return loss_fn(model_at({n: x[i] for i, n in enumerate(names)}))[0]
    # jitted: run eagerly, forward-over-reverse through a long scan dispatches op by op (10x)
    return np.asarray(jax.jit(jax.hessian(scalar_loss))(x0), dtype=float)


def loss_hessians(loss_fn, model_at, values: dict, data) -> np.ndarray:
    """The Hessians of a batch of fits in one compiled call (one compile per batch shape).

    Args:
        loss_fn: ``loss_fn(model, data) -> (loss, aux)``, as given to a :class:`eegfit.Fitter`.
        model_at: ``values -> model``.
        values: name -> the fits' scalar values, shape ``(n,)`` each.
        data: ``loss_fn``'s data of every fit, each leaf with a leading axis of ``n``.

    Returns:
        ``(n, k, k)`` float64 NumPy, axes in the order of ``values``.
    """
    names = tuple(values)
    dtype = jnp.result_type(float)
    x = jnp.stack([jnp.asarray(values[n], dtype) for n in names], axis=1)

    def scalar_loss(x, data):
        return loss_fn(model_at({n: x[i] for i, n in enumerate(names)}), data)[0]
    return np.asarray(jax.jit(jax.vmap(jax.hessian(scalar_loss)))(x, data), dtype=float)


def laplace(names, hessian, rel_sd: float) -> Curvature:
    """Covariance, standard deviations and correlations from a loss Hessian (see module doc).

    Raises:
        ValueError: ``rel_sd`` not > 0, or a Hessian that is not square of ``len(names)``.
    """
    names = tuple(names)
    hessian = np.asarray(hessian, dtype=float)
    if not rel_sd > 0:
        raise ValueError(f"rel_sd must be > 0, got {rel_sd!r}")
    if hessian.shape != (len(names), len(names)):
        raise ValueError(f"hessian must have shape {(len(names), len(names))} for parameters "
                         f"{names}, got {hessian.shape}")
    sym = 0.5 * (hessian + hessian.T)  # float32 AD leaves a tiny asymmetry
    eig = np.linalg.eigvalsh(sym) if np.all(np.isfinite(sym)) else np.full(len(names), np.nan)
    positive = bool(np.all(eig > 0))
    if positive:
        cov = 2.0 * rel_sd ** 2 * np.linalg.inv(sym)
        std = np.sqrt(np.diag(cov))
        corr = cov / np.outer(std, std)
    else:
        cov = np.full_like(sym, np.nan)
        std = np.full(len(names), np.nan)
        corr = np.full_like(sym, np.nan)
    return Curvature(names, sym, eig, cov, std, corr, positive)


def curvature(loss_fn, model_at, values: dict, rel_sd: float) -> Curvature:
    """:func:`loss_hessian` then :func:`laplace` at ``values``."""
    return laplace(tuple(values), loss_hessian(loss_fn, model_at, values), rel_sd)


__all__ = ["Curvature", "curvature", "laplace", "loss_hessian", "loss_hessians"]
