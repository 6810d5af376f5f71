"""Batched and unbatched evaluations give the same numbers.

``simulate`` batches a ``jax.vmap`` over scalar parameter sets through a custom batching rule:
vmap's own batch-first layout below ``eegfit.simulate.BROADCAST_MIN_BATCH`` candidates, the
broadcast (batch-last) layout from it on. Whichever layout runs, each candidate's result must be
the one a plain single simulation gives; and a nevergrad step, which evaluates its candidates in
one vmapped call, must record the losses a per-candidate evaluation gives. No timing here
(benchmarks/ measures speed). A short window keeps the compiles quick.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import ConstantDrive, Fitter, JansenRit, Param, UniformNoiseDrive, rms, simulate

sim_module = importlib.import_module("eegfit.simulate")  # eegfit.simulate is also the function
THRESHOLD = sim_module.BROADCAST_MIN_BATCH
WINDOW = {"duration_ms": 100.0, "transient_ms": 20.0, "dt_ms": 0.1}
N_KEPT = 800
BOUNDS = (110.0, 170.0)
SIZES = sorted({THRESHOLD - 1, THRESHOLD, 2 * THRESHOLD - 2})  # below and above the threshold


def values(n: int) -> jnp.ndarray:
    return jnp.linspace(*BOUNDS, n, dtype=jnp.result_type(float))


def eeg_of_c(c):
    return simulate(JansenRit(C=c, drive=ConstantDrive(220.0)), **WINDOW).observable


def loop(fn, xs) -> np.ndarray:
    """``fn`` applied to each element alone (one jitted single evaluation each), stacked."""
    single = jax.jit(fn)
    return np.stack([np.asarray(single(x)) for x in xs])


def assert_same(batched, looped, scale=1.0):
    batched, looped = np.asarray(batched), np.asarray(looped)
    assert batched.shape == looped.shape
    assert np.all(np.isfinite(batched))
    np.testing.assert_allclose(batched, looped, rtol=1e-5, atol=1e-6 * scale)


def test_threshold_is_a_batch_size():
    assert isinstance(THRESHOLD, int) and THRESHOLD >= 2


@pytest.mark.parametrize("n", SIZES)
def test_vmap_equals_a_loop_of_single_simulations(n):
    cs = values(n)
    batched = jax.jit(jax.vmap(eeg_of_c))(cs)
    assert batched.shape == (n, N_KEPT)
    assert_same(batched, loop(eeg_of_c, cs), scale=10.0)


def traced(n: int, threshold: int, monkeypatch) -> str:
    """The traced program of a vmapped batch of n with the layout threshold set to
    ``threshold`` (read while tracing; caches cleared so nothing traced before is reused)."""
    monkeypatch.setattr(sim_module, "BROADCAST_MIN_BATCH", threshold)
    jax.clear_caches()
    try:
        return str(jax.make_jaxpr(jax.vmap(eeg_of_c))(values(n)))
    finally:
        monkeypatch.undo()
        jax.clear_caches()


@pytest.mark.parametrize("n", [THRESHOLD - 1, THRESHOLD])
def test_layout_switches_at_the_threshold(n, monkeypatch):
    """Below the threshold the program is vmap's (as with the threshold out of reach), from it
    on the broadcast one (as with the threshold at 1): the rule takes the path it documents."""
    shipped = traced(n, THRESHOLD, monkeypatch)
    pure_vmap = traced(n, 10 ** 9, monkeypatch)
    pure_broadcast = traced(n, 1, monkeypatch)
    assert pure_vmap != pure_broadcast
    assert shipped == (pure_vmap if n < THRESHOLD else pure_broadcast)


def test_broadcast_layout_equals_array_valued_model():
    """An array-valued field simulates a batch in one call: the same numbers as the vmap path."""
    n = THRESHOLD + 3
    cs = values(n)
    direct = simulate(JansenRit(C=cs, drive=ConstantDrive(220.0)), **WINDOW).observable  # (time, n)
    assert_same(jax.vmap(eeg_of_c)(cs), np.asarray(direct).T, scale=10.0)


@pytest.mark.parametrize("n", [THRESHOLD - 1, THRESHOLD + 1])
def test_vmap_over_the_drive_equals_a_loop(n):
    """The drive batched too (vmap over the constant rate)."""
    rates = jnp.linspace(180.0, 260.0, n, dtype=jnp.result_type(float))

    def eeg_of_rate(p):
        return simulate(JansenRit(C=140.0, drive=ConstantDrive(p)), **WINDOW).observable
    assert_same(jax.jit(jax.vmap(eeg_of_rate))(rates), loop(eeg_of_rate, rates), scale=10.0)


def test_vmap_with_a_noisy_drive_equals_a_loop():
    """Common random numbers: one key for every candidate, as a fit's evaluations use."""
    key = jax.random.key(3)

    def eeg_noisy(c):
        return simulate(JansenRit(C=c, drive=UniformNoiseDrive()), key=key, **WINDOW).observable
    cs = values(THRESHOLD + 1)
    assert_same(jax.jit(jax.vmap(eeg_noisy))(cs), loop(eeg_noisy, cs), scale=10.0)


@pytest.mark.parametrize("n", [THRESHOLD - 1, THRESHOLD])
def test_vmapped_gradient_equals_a_loop(n):
    target = float(rms(eeg_of_c(jnp.asarray(150.0))))

    def loss(c):
        return ((rms(eeg_of_c(c)) - target) / target) ** 2
    cs = values(n)
    value, grad = jax.jit(jax.vmap(jax.value_and_grad(loss)))(cs)
    looped = loop(jax.value_and_grad(loss), cs)  # (n, 2)
    assert_same(value, looped[:, 0])
    assert_same(grad, looped[:, 1], scale=float(np.max(np.abs(looped[:, 1]))))


@pytest.mark.parametrize("n", [THRESHOLD - 1, THRESHOLD])
def test_forward_mode_under_vmap_runs_batch_last_and_equals_a_loop(n):
    """Inside batch_last_jvp, jvp(vmap(loss)) runs the state batch-last from the threshold on
    (its jaxpr holds a (6, n) state, no (n, 6) one) and gives each candidate's own derivative;
    reverse mode outside the context is untouched."""
    def loss(c):
        return rms(eeg_of_c(c))

    def value_and_tangent(cs):
        return jax.jvp(jax.vmap(loss), (cs,), (jnp.ones_like(cs),))
    cs = values(n)
    with sim_module.batch_last_jvp():
        jaxpr = str(jax.make_jaxpr(value_and_tangent)(cs))
        value, tangent = jax.jit(value_and_tangent)(cs)
    assert "custom_vmap" not in jaxpr  # batching resolved the rule: nothing left to transpose
    if n >= THRESHOLD:
        assert f"[6,{n}]" in jaxpr and f"[{n},6]" not in jaxpr
    looped = loop(jax.value_and_grad(loss), cs)
    assert_same(value, looped[:, 0])
    assert_same(tangent, looped[:, 1], scale=float(np.max(np.abs(looped[:, 1]))))


@pytest.mark.parametrize("num_candidates", [THRESHOLD - 3, THRESHOLD + 1])
def test_nevergrad_step_equals_per_candidate_evaluation(num_candidates):
    """Each recorded loss and aux of a nevergrad fit (all candidates of a step in one call) is
    what evaluating that candidate alone gives."""
    target = float(rms(eeg_of_c(jnp.asarray(150.0))))

    def loss_fn(model):
        amplitude = rms(simulate(model, **WINDOW).observable)
        return ((amplitude - target) / target) ** 2, {"rms_mv": amplitude}
    model = JansenRit(C=Param(115.0, bounds=BOUNDS), drive=ConstantDrive(220.0))
    fitter = Fitter(model, "DE", loss_fn=loss_fn, backend="nevergrad",
                    num_candidates=num_candidates, optimizer_options={"popsize": num_candidates})
    result = fitter.fit(2, seed=0, progress=False)
    cs = np.asarray(result.history.params["C"])
    assert cs.shape == (2, num_candidates)
    single = jax.jit(lambda c: loss_fn(fitter.model_at({"C": c})))
    for step in range(cs.shape[0]):
        alone = [single(jnp.asarray(c)) for c in cs[step]]
        assert_same(result.history.loss[step], [float(a[0]) for a in alone])
        assert_same(result.history.aux["rms_mv"][step], [float(a[1]["rms_mv"]) for a in alone])


def test_gradient_of_a_mean_over_vmapped_noise_keys():
    """Regression: a jit around simulate made JAX transpose the batched drive's zero tangent
    with the wrong batch axis (cotangent shape error) in grad(mean(vmap over keys))."""
    window = dict(dt_ms=0.5, duration_ms=600.0, transient_ms=500.0)

    def loss(c, keys):
        model = JansenRit(C=c, drive=UniformNoiseDrive())
        return jnp.mean(jax.vmap(lambda k: rms(simulate(model, key=k, **window).observable))(keys))

    for n in (4, 16):  # below and above the broadcast threshold
        keys = jax.random.split(jax.random.key(1), n)
        value, grad = jax.jit(jax.value_and_grad(loss))(jnp.float32(135.0), keys)
        loop = np.mean([float(rms(simulate(JansenRit(C=135.0, drive=UniformNoiseDrive()),
                                           key=k, **window).observable)) for k in keys])
        assert float(value) == pytest.approx(loop, rel=1e-5)
        assert np.isfinite(float(grad)) and float(grad) != 0.0
