"""The hand-written read of a delayed network's history in blocks (issue 23's speed goal):
:mod:`eegfit.models.delay_kernel`, a C++ XLA FFI handler built with g++ on first use.

It must change nothing but the speed: the XLA gather's values (sums in another order: float
rounding only) at every position of the ring, traces of Hopf and Jansen-Rit networks in both
delay modes, float32 and float64, with a weighted diagonal, batches, the XLA read's gradient
(and the finite difference's), and, where it cannot be built, the XLA read with one warning
naming why. Skipped where g++ builds nothing (the fallback test still runs).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit.data.connectome import load
from eegfit.models import JansenRit, StuartLandau, delay_kernel
from eegfit.models.delays import check_reads, delayed_received
from eegfit.models.network import coupled
from eegfit.simulate import simulate

DT_MS = 0.1
built = pytest.mark.skipif(not delay_kernel._registered(), reason="the kernel did not build")


@pytest.fixture(scope="module")
def hcp20():
    return load("hcp", n_nodes=20)


@pytest.fixture
def read(monkeypatch):
    """``read(name)`` sets ``EEGFIT_DELAY_KERNEL`` (simulate reads it per call)."""
    return lambda name: monkeypatch.setenv(delay_kernel.KERNEL_ENV, name)


def network(conn, node, mode, block, dtype, own=0.0, speed=None):
    """A network of ``conn`` whose blocks are ``block`` steps at 0.1 ms (its speed bound set
    so), a weight ``own`` times the largest on its diagonal."""
    lengths = np.asarray(conn.lengths_mm)
    shortest = lengths[~np.eye(len(lengths), dtype=bool)].min()
    speed_max = shortest / (DT_MS * (block - 0.5))
    weights = np.asarray(conn.weights) + own * np.max(conn.weights) * np.eye(len(lengths))
    k = 100.0 if isinstance(node, StuartLandau) else 1.0
    model = coupled(jax.tree.map(dtype, node), weights, k=k, lengths_mm=lengths,
                    speed_m_s=speed or 0.8 * speed_max, speed_min_m_s=0.5 * speed_max,
                    speed_max_m_s=speed_max, delay_mode=mode)
    assert model.delay_block(DT_MS) == block
    return model


def initial(model, node):
    n = model.n_nodes
    if isinstance(node, JansenRit):
        return jnp.asarray(np.asarray(model.initial_state) * np.linspace(0.9, 1.1, n))
    return jnp.asarray(np.array([[0.3], [-0.2]]) * np.linspace(0.5, 1.5, n))


@built
@pytest.mark.parametrize("block", [2, 7, 8, 9, 16])
@pytest.mark.parametrize("mode", ["round", "interpolate"])
def test_the_kernel_reads_what_the_gather_reads_at_every_position(mode, block, hcp20):
    """A random history, read at every position of the ring (so every read that wraps, and
    windows of one vector and of two): the kernel's parts against the XLA gather's, float64."""
    with jax.enable_x64(True):
        model = network(hcp20, StuartLandau(), mode, block, jnp.float64, own=0.5)
        size = model.history_length(DT_MS)
        plan = model.delay_plan(size, DT_MS, jnp.float64)
        check_reads(plan, size, block)
        ring = jnp.asarray(np.random.default_rng(0).normal(size=(size, 20)))
        padded = jnp.concatenate([ring.T, ring.T[:, :delay_kernel.pad(block)]], axis=1)
        nows = jnp.arange(size, dtype=jnp.int32)
        got = jax.jit(jax.vmap(lambda now: delay_kernel.kernel_read(padded, now, plan, block,
                                                                    size)))(nows)
        want = jax.vmap(lambda now: delayed_received(ring, now, plan, block))(nows)
    for g, w in zip(got, want):
        if w is None:
            assert g is None
            continue
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12 * float(np.max(np.abs(w))))


@built
@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("mode", ["round", "interpolate"])
@pytest.mark.parametrize("node", [StuartLandau(), JansenRit()], ids=["hopf", "jr"])
def test_the_kernel_gives_the_xla_rollout(node, mode, dtype, read, hcp20):
    """Traces with a weighted diagonal (a transient that is no whole number of blocks), the
    two reads agreeing to float rounding, and the kernel used (its rollout is not the XLA
    one's to the bit: the sums run in another order)."""
    with jax.enable_x64(dtype == jnp.float64):  # float32: JAX's default, as the pipeline's
        model = network(hcp20, node, mode, 7, dtype, own=0.5)
        y0 = initial(model, node).astype(dtype)
        runs = {}
        for name in ("xla", "ffi"):
            read(name)
            runs[name] = np.asarray(simulate(model, dt_ms=DT_MS, duration_ms=60.3,
                                             transient_ms=10.2, y0=y0).observable)
    scale = np.max(np.abs(runs["xla"]))
    tol = 1e-11 if dtype == jnp.float64 else 2e-4
    np.testing.assert_allclose(runs["ffi"], runs["xla"], rtol=0, atol=tol * scale)
    assert np.all(np.isfinite(runs["ffi"]))


@built
def test_the_kernel_runs_batched_and_gives_the_xla_gradient(read, hcp20):
    """vmap over speeds (plain vmap: the kernel, one network at a time; the broadcast layout
    from 9: the XLA read), and jax.grad in the speed (interpolating) equal to the XLA read's
    and to a central finite difference, float64."""
    with jax.enable_x64(True):
        model = network(hcp20, StuartLandau(), "interpolate", 7, jnp.float64)
        y0 = initial(model, StuartLandau())

        def run(v):
            return simulate(dataclasses.replace(model, speed_m_s=v), dt_ms=DT_MS,
                            duration_ms=30.0, y0=y0).observable

        def loss(v):
            x = run(v)
            return jnp.mean(x[:, 0] * x[:, 3])
        out = {}
        for name in ("xla", "ffi"):
            read(name)
            out[name] = [np.asarray(jax.vmap(run)(jnp.linspace(0.6, 0.9, n) *
                                                  model.speed_max_m_s)) for n in (3, 10)]
            out[name].append(float(jax.grad(loss)(model.speed_m_s)))
        h = 1e-4 * model.speed_m_s
        fd = float((loss(model.speed_m_s + h) - loss(model.speed_m_s - h)) / (2 * h))
    for got, want in zip(out["ffi"][:2], out["xla"][:2]):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-11 * np.max(np.abs(want)))
    assert abs(out["ffi"][2]) > 1e-4  # the speed matters to this loss
    assert out["ffi"][2] == pytest.approx(out["xla"][2], rel=1e-9)
    assert out["ffi"][2] == pytest.approx(fd, rel=1e-5)


def test_without_a_compiler_the_xla_read_runs_with_one_warning(tmp_path):
    """A fresh process, no g++ (``CXX`` names none) and an empty cache: one warning naming the
    reason, the XLA read's trace, nothing left in the cache."""
    script = textwrap.dedent("""
        import warnings, os
        import jax, jax.numpy as jnp, numpy as np
        from eegfit.models import StuartLandau
        from eegfit.models.network import coupled
        from eegfit.simulate import simulate
        lengths = np.array([[0.0, 40.0, 90.0], [10.0, 0.0, 60.0], [75.0, 25.0, 0.0]])
        sc = np.array([[0.0, 1.0, 0.5], [0.3, 0.0, 1.0], [1.0, 0.2, 0.0]])
        model = coupled(StuartLandau(), sc, k=100.0, lengths_mm=lengths, speed_m_s=5.0,
                        speed_max_m_s=5.0)
        assert model.delay_block(0.1) > 1
        y0 = jnp.asarray(np.array([[0.3], [-0.2]]) * np.linspace(0.5, 1.5, 3))
        runs = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for name in ("xla", "ffi", "ffi"):
                os.environ["EEGFIT_DELAY_KERNEL"] = name
                runs[name] = np.asarray(simulate(model, dt_ms=0.1, duration_ms=20.0,
                                                 y0=y0).observable)
        messages = [str(w.message) for w in caught if "delay-read kernel" in str(w.message)]
        assert len(messages) == 1, messages
        assert "no C++ compiler" in messages[0], messages
        assert np.array_equal(runs["ffi"], runs["xla"])
        print("ok")
    """)
    env = {**os.environ, "CXX": str(tmp_path / "no-such-g++"),
           "EEGFIT_KERNEL_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]
    assert not any((tmp_path / "cache").glob("*.so"))


def test_a_bad_kernel_choice_is_named(monkeypatch, hcp20):
    monkeypatch.setenv(delay_kernel.KERNEL_ENV, "cuda")
    model = network(hcp20, StuartLandau(), "round", 7, jnp.float32)
    with pytest.raises(ValueError, match="EEGFIT_DELAY_KERNEL"):
        simulate(model, dt_ms=DT_MS, duration_ms=5.0)
