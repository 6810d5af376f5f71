"""Neural-mass models: immutable parameter pytrees with a vector field and an observable."""

from eegfit.models.base import NeuralMass, pytree_dataclass, static_field
from eegfit.models.drive import (ConstantDrive, OUNoiseDrive, UniformNoiseDrive, WhiteNoiseDrive,
                                 uniform_intensity)
from eegfit.models.jansen_rit import JansenRit

__all__ = ["ConstantDrive", "JansenRit", "NeuralMass", "OUNoiseDrive", "UniformNoiseDrive",
           "WhiteNoiseDrive", "pytree_dataclass", "static_field", "uniform_intensity"]
