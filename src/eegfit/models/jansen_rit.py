"""Jansen-Rit cortical column (Jansen & Rit 1995, Biol. Cybern. 73:357-366).

Three populations (pyramidal cells, excitatory and inhibitory interneurons), six state variables:
``y0, y1, y2`` are the mean post-synaptic potentials (mV) and ``y3, y4, y5`` their time
derivatives (mV/s). The EEG observable is ``y1 - y2`` in mV.

    y0' = y3,  y3' = A a S(y1 - y2)          - 2a y3 - a^2 y0
    y1' = y4,  y4' = A a (p + C2 S(C1 y0))   - 2a y4 - a^2 y1
    y2' = y5,  y5' = B b C4 S(C3 y0)         - 2b y5 - b^2 y2
    S(v) = 2 e0 / (1 + exp(r (v0 - v)))

with C1..C4 = C * (1, 0.8, 0.25, 0.25). At constant p = 220 Hz the column is quiescent for
C below about 130, rings in the alpha band (10-11 Hz) for C of about 130-142, and jumps to a large
slow (~5.5 Hz) rhythm above about 142.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from eegfit.models.base import NONNEGATIVE, POSITIVE, Model, pytree_dataclass
from eegfit.models.drive import ConstantDrive, UniformNoiseDrive
from eegfit.models.noise import OUNoiseDrive, WhiteNoiseDrive


@pytree_dataclass
class JansenRit(Model):
    """Parameters of a Jansen-Rit column, with the JR95 constants as defaults.

    Attributes:
        A: maximum excitatory post-synaptic potential, mV (3.25).
        B: maximum inhibitory post-synaptic potential, mV (22).
        a: inverse excitatory time constant, 1/s (100).
        b: inverse inhibitory time constant, 1/s (50).
        v0: firing threshold (sigmoid midpoint), mV (6).
        e0: half the maximum firing rate, 1/s (2.5, so 2 e0 = 5 /s).
        r: sigmoid steepness, 1/mV (0.56).
        C: connectivity constant, dimensionless (135).
        alpha1..alpha4: C1..C4 as fractions of C (1, 0.8, 0.25, 0.25), dimensionless.
        drive: external excitatory input p to the excitatory interneurons (Hz), a drive object
            (:class:`ConstantDrive` at 220 Hz by default, or :class:`UniformNoiseDrive`).

    Any numeric field may be an array: parameter sets then broadcast (a batch of columns).
    """

    A: float = 3.25
    B: float = 22.0
    a: float = 100.0
    b: float = 50.0
    v0: float = 6.0
    e0: float = 2.5
    r: float = 0.56
    C: float = 135.0
    alpha1: float = 1.0
    alpha2: float = 0.8
    alpha3: float = 0.25
    alpha4: float = 0.25
    drive: ConstantDrive = ConstantDrive()

    state_names = ("y0", "y1", "y2", "y3", "y4", "y5")
    state_units = {"y0": "mV", "y1": "mV", "y2": "mV", "y3": "mV/s", "y4": "mV/s", "y5": "mV/s"}
    observable_name = "EEG observable y1 - y2"
    observable_units = "mV"
    drive_units = "Hz"
    drives = {"constant": ConstantDrive, "uniform_noise": UniformNoiseDrive,
              "white_noise": WhiteNoiseDrive, "ou_noise": OUNoiseDrive}
    coupling_form = "additive"
    units = {
        "A": "mV", "B": "mV", "a": "1/s", "b": "1/s", "v0": "mV", "e0": "1/s", "r": "1/mV",
        "C": "1", "alpha1": "1", "alpha2": "1", "alpha3": "1", "alpha4": "1",
    }
    ranges = {"A": NONNEGATIVE, "B": NONNEGATIVE, "a": POSITIVE, "b": POSITIVE, "e0": POSITIVE,
              "r": POSITIVE, "C": NONNEGATIVE, "alpha1": NONNEGATIVE, "alpha2": NONNEGATIVE,
              "alpha3": NONNEGATIVE, "alpha4": NONNEGATIVE}

    def sigmoid(self, v: jax.Array) -> jax.Array:
        """Firing rate (1/s) of a population at mean membrane potential ``v`` (mV)."""
        return 2.0 * self.e0 / (1.0 + jnp.exp(self.r * (self.v0 - v)))

    def vector_field(self, y: jax.Array, drive_hz: jax.Array,
                     coupling: jax.Array | None = None) -> jax.Array:
        """d(state)/dt in units per second; ``y`` has shape ``(6, *batch)``. A network input
        ``coupling`` (Hz) adds to the drive of the excitatory interneurons."""
        if coupling is not None:
            drive_hz = drive_hz + coupling
        A, B, a, b, C = self.A, self.B, self.a, self.b, self.C
        y0, y1, y2, y3, y4, y5 = y[0], y[1], y[2], y[3], y[4], y[5]
        dy3 = A * a * self.sigmoid(y1 - y2) - 2.0 * a * y3 - a * a * y0
        dy4 = A * a * (drive_hz + self.alpha2 * C * self.sigmoid(self.alpha1 * C * y0)) \
            - 2.0 * a * y4 - a * a * y1
        dy5 = B * b * self.alpha4 * C * self.sigmoid(self.alpha3 * C * y0) \
            - 2.0 * b * y5 - b * b * y2
        return jnp.stack(jnp.broadcast_arrays(y3, y4, y5, dy3, dy4, dy5))

    def observe(self, y: jax.Array) -> jax.Array:
        """EEG observable y1 - y2, mV."""
        return y[1] - y[2]

    def coupling_variable(self, y: jax.Array) -> jax.Array:
        """What a column sends to the others: its pyramidal firing rate S(y1 - y2), 1/s."""
        return self.sigmoid(y[1] - y[2])
