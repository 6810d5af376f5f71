"""eegfit's Jansen-Rit column against an integration written here, from the paper, in float64.

The reference shares no code with eegfit: the JR95 equations (Jansen & Rit 1995, Biol. Cybern.
73:357-366, eqs. 6 and the parameter table) are written below in NumPy, integrated by a plain
Euler loop (for eegfit's Euler path) and by SciPy's DOP853 at tight tolerance (for its RK4). The
comparisons are functions returning the worst deviation, so the mutation test at the end can show
that each of them fails when any one model constant is off by 5 %: the suite's power is measured,
not assumed.

Both regimes at the constant drive p = 220 Hz: C = 120 settles to a fixed point (a damped 10 Hz
ringing), C = 135 and 138 oscillate in the alpha band (~10.5-10.7 Hz), C = 150 in the large slow
rhythm (~5.5 Hz).
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from eegfit import ConstantDrive, JansenRit, rms, simulate, simulate_rms

# The paper's table (JR95, Table 1; C1..C4 = C * (1, 0.8, 0.25, 0.25)), by eegfit's field names.
JR95 = {"A": 3.25, "B": 22.0, "a": 100.0, "b": 50.0, "v0": 6.0, "e0": 2.5, "r": 0.56,
        "C": 135.0, "alpha1": 1.0, "alpha2": 0.8, "alpha3": 0.25, "alpha4": 0.25}
DRIVE_HZ = 220.0  # the mean of the paper's uniform 120-320 Hz input, used as a constant drive
C_VALUES = np.array([120.0, 135.0, 138.0, 150.0])  # fixed point, alpha, alpha, slow

DURATION_MS = 1000.0  # from the zero state, transient included in the trace comparison
SETTLED_MS = 500.0  # features (RMS, frequency) are taken over the last 500 ms
EULER_DT_MS = 0.1
RK4_DT_MS = 0.05

# Tolerances on the relative deviation max|eegfit - reference| / max|reference| (per column) and
# on the features' relative deviations. Measured: 1e-14 (Euler, float64 rounding in another
# order) and 1e-11 (RK4 at 0.05 ms against DOP853 at rtol 1e-12, RK4's own error dominating).
EULER_TOL = 1e-9
RK4_TOL = 1e-9


# --- the reference, from the paper -----------------------------------------------------------

def jr95_rhs(y, c, p=DRIVE_HZ):
    """dy/dt (per second) of JR95 for a state ``y`` of shape (6, n); ``c`` is C, shape (n,)."""
    A, B, a, b = JR95["A"], JR95["B"], JR95["a"], JR95["b"]
    e0, v0, r = JR95["e0"], JR95["v0"], JR95["r"]

    def sigm(v):  # firing rate, 1/s, of a mean membrane potential v in mV
        return 2.0 * e0 / (1.0 + np.exp(r * (v0 - v)))
    c1, c2, c3, c4 = c, 0.8 * c, 0.25 * c, 0.25 * c
    y0, y1, y2, y3, y4, y5 = y
    return np.array([
        y3,
        y4,
        y5,
        A * a * sigm(y1 - y2) - 2.0 * a * y3 - a ** 2 * y0,
        A * a * (p + c2 * sigm(c1 * y0)) - 2.0 * a * y4 - a ** 2 * y1,
        B * b * (c4 * sigm(c3 * y0)) - 2.0 * b * y5 - b ** 2 * y2,
    ])


def euler_reference(c, dt_ms, n_steps):
    """EEG y1 - y2 (mV) after each of ``n_steps`` Euler steps from the zero state, (n_steps, n)."""
    dt_s = dt_ms * 1e-3
    y = np.zeros((6, len(c)))
    eeg = np.empty((n_steps, len(c)))
    for i in range(n_steps):
        y = y + dt_s * jr95_rhs(y, c)
        eeg[i] = y[1] - y[2]
    return eeg


def dop853_reference(c, time_ms):
    """EEG y1 - y2 (mV) at ``time_ms`` from the zero state at t = 0, by SciPy's DOP853."""
    from scipy.integrate import solve_ivp

    n = len(c)
    solution = solve_ivp(lambda t, z: jr95_rhs(z.reshape(6, n), c).ravel(),
                         (0.0, time_ms[-1] * 1e-3), np.zeros(6 * n), method="DOP853",
                         t_eval=time_ms * 1e-3, rtol=1e-12, atol=1e-12)
    assert solution.success, solution.message
    y = solution.y.reshape(6, n, -1)
    return (y[1] - y[2]).T


def crossing_frequency_hz(eeg, dt_ms):
    """Mean frequency (Hz) from upward crossings of the mean, linearly interpolated; per column."""
    x = eeg - eeg.mean(axis=0)
    out = []
    for col in x.T:
        up = np.nonzero((col[:-1] < 0) & (col[1:] >= 0))[0]
        times_ms = (up + col[up] / (col[up] - col[up + 1])) * dt_ms
        out.append(1000.0 / np.mean(np.diff(times_ms)) if len(times_ms) > 2 else 0.0)
    return np.array(out)


@pytest.fixture(scope="module")
def euler_ref():
    return euler_reference(C_VALUES, EULER_DT_MS, int(round(DURATION_MS / EULER_DT_MS)))


@pytest.fixture(scope="module")
def dop853_ref():
    n = int(round(DURATION_MS / RK4_DT_MS))
    return dop853_reference(C_VALUES, np.arange(1, n + 1) * RK4_DT_MS)


# --- the comparisons -------------------------------------------------------------------------

def unchanged(model):
    return model


def eegfit_columns(mutate):
    """eegfit's model for each of C_VALUES (one batch), passed through ``mutate``."""
    model = mutate(JansenRit(C=jnp.asarray(C_VALUES), drive=ConstantDrive(DRIVE_HZ)))
    assert jnp.asarray(model.C).dtype == jnp.float64, "run inside the x64 fixture"
    return model


def relative_trace_deviation(eeg, ref):
    """Per column max|eeg - ref| / max|ref|."""
    return np.max(np.abs(np.asarray(eeg) - ref), axis=0) / np.max(np.abs(ref), axis=0)


def euler_deviation(euler_ref, mutate=unchanged) -> float:
    """Worst relative deviation of eegfit's Euler path from the NumPy Euler loop, over the
    columns of C_VALUES: the whole trace from the zero state, and the settled window's RMS
    (``rms`` of the trace and ``simulate_rms``) and crossing frequency."""
    model = eegfit_columns(mutate)
    sim = {"duration_ms": DURATION_MS, "dt_ms": EULER_DT_MS, "integrator": "euler"}
    eeg = simulate(model, **sim).observable
    settled = {**sim, "transient_ms": DURATION_MS - SETTLED_MS}
    eeg_settled = np.asarray(simulate(model, **settled).observable)
    ref_settled = euler_ref[-eeg_settled.shape[0]:]
    ref_rms = np.std(ref_settled, axis=0)
    ref_hz = crossing_frequency_hz(ref_settled, EULER_DT_MS)
    deviations = [
        relative_trace_deviation(eeg, euler_ref),
        np.abs(np.asarray(rms(eeg_settled)) - ref_rms) / ref_rms,
        np.abs(np.asarray(simulate_rms(model, **settled)) - ref_rms) / ref_rms,
        np.abs(crossing_frequency_hz(eeg_settled, EULER_DT_MS) - ref_hz) / ref_hz,
    ]
    return float(np.max(deviations))


def rk4_deviation(dop853_ref, mutate=unchanged, dt_ms=RK4_DT_MS, integrator="rk4") -> float:
    """Worst relative trace deviation of eegfit's ``integrator`` at ``dt_ms`` (a multiple of
    RK4_DT_MS) from DOP853, over the columns of C_VALUES, from the zero state."""
    eeg = simulate(eegfit_columns(mutate), duration_ms=DURATION_MS, dt_ms=dt_ms,
                   integrator=integrator).observable
    every = int(round(dt_ms / RK4_DT_MS))
    return float(np.max(relative_trace_deviation(eeg, dop853_ref[every - 1::every])))


# --- the tests -------------------------------------------------------------------------------

def test_defaults_are_the_papers_table():
    model = JansenRit()
    assert {name: getattr(model, name) for name in JR95} == JR95
    assert model.drive == ConstantDrive(DRIVE_HZ)
    assert model.state_names == ("y0", "y1", "y2", "y3", "y4", "y5")
    assert model.units == {"A": "mV", "B": "mV", "a": "1/s", "b": "1/s", "v0": "mV",
                           "e0": "1/s", "r": "1/mV", "C": "1", "alpha1": "1", "alpha2": "1",
                           "alpha3": "1", "alpha4": "1"}


def test_vector_field_matches_the_paper_at_random_states(x64):
    rng = np.random.default_rng(0)
    c = np.linspace(60.0, 200.0, 50)
    y = rng.normal(size=(6, 50)) * np.array([[0.1], [20.0], [20.0], [10.0], [500.0], [500.0]])
    got = JansenRit(C=jnp.asarray(c)).vector_field(jnp.asarray(y), jnp.float64(DRIVE_HZ))
    np.testing.assert_allclose(np.asarray(got), jr95_rhs(y, c), rtol=1e-12, atol=1e-9)


def test_euler_path_matches_a_numpy_euler_loop(x64, euler_ref):
    assert euler_deviation(euler_ref) < EULER_TOL


def test_rk4_matches_dop853(x64, dop853_ref):
    assert rk4_deviation(dop853_ref) < RK4_TOL


@pytest.mark.parametrize("integrator,order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_integrators_converge_to_dop853_at_their_order(x64, dop853_ref, integrator, order):
    # halving dt divides the global error by 2**order (measured 2.05, 3.97, 14.4)
    coarse = rk4_deviation(dop853_ref, dt_ms=2 * RK4_DT_MS, integrator=integrator)
    fine = rk4_deviation(dop853_ref, dt_ms=RK4_DT_MS, integrator=integrator)
    assert 0.75 * 2 ** order < coarse / fine < 1.25 * 2 ** order, (coarse, fine)


def test_the_reference_shows_the_papers_regimes(euler_ref):
    # The reference itself, checked against what JR95 and its followers report, so that it
    # cannot silently share a mistake with eegfit.
    window = int(round(SETTLED_MS / EULER_DT_MS))
    settled = euler_ref[-window:]
    half = window // 2
    hz = crossing_frequency_hz(settled, EULER_DT_MS)
    peak_to_peak = np.ptp(settled, axis=0)
    fixed, alpha, slow = 0, [1, 2], 3
    first, second = np.ptp(settled[:half], axis=0), np.ptp(settled[half:], axis=0)
    # C = 120: a decaying ringing (measured: 0.38 mV peak to peak, then 0.085 mV 250 ms later);
    # the others sustained (measured: each 250 ms half at least 0.89 of the one before; their
    # limit cycles are reached within ~1.5 s)
    assert second[fixed] < 0.5 * first[fixed] and peak_to_peak[fixed] < 1.0, peak_to_peak
    assert np.all(second[alpha + [slow]] > 0.8 * first[alpha + [slow]]), (first, second)
    assert np.all((hz[alpha] > 10.0) & (hz[alpha] < 11.5)), hz
    assert np.all((peak_to_peak[alpha] > 2.0) & (peak_to_peak[alpha] < 8.0)), peak_to_peak
    assert 5.0 < hz[slow] < 6.0, hz
    assert peak_to_peak[slow] > 10.0, peak_to_peak


# --- mutation smoke test: the comparisons above must fail for any constant off by 5 % ---------

def scaled(name, factor):
    """A mutation: the model with its constant ``name`` (a field, or ``drive.rate_hz``) times
    ``factor``."""
    def mutate(model):
        if name == "drive.rate_hz":
            return dataclasses.replace(model, drive=ConstantDrive(factor * model.drive.rate_hz))
        return dataclasses.replace(model, **{name: factor * getattr(model, name)})
    return mutate


@pytest.mark.parametrize("factor", [1.05, 1.0 + 1e-6])
@pytest.mark.parametrize("constant", sorted(JR95) + ["drive.rate_hz"])
def test_each_constant_off_fails_the_references(x64, euler_ref, dop853_ref, constant, factor):
    mutate = scaled(constant, factor)
    euler, rk4 = euler_deviation(euler_ref, mutate), rk4_deviation(dop853_ref, mutate)
    # measured: >= 0.25 at 5 % and >= 7e-6 at one part in a million, for every constant
    assert euler > EULER_TOL and rk4 > RK4_TOL, (euler, rk4)
    if factor == 1.05:
        assert euler > 1e3 * EULER_TOL and rk4 > 1e3 * RK4_TOL, (euler, rk4)
