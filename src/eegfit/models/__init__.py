"""Neural-mass models: immutable parameter pytrees with a vector field and an observable, one
protocol (:class:`NeuralMass`) and a registry by the name a config uses (:data:`MODELS`)."""

from eegfit.models.base import (FINITE, NONNEGATIVE, POSITIVE, Model, NeuralMass, Node, Range,
                                check, pytree_dataclass, static_field)
from eegfit.models.drive import ConstantDrive, ConstantInput, UniformNoiseDrive
from eegfit.models.noise import (OUNoiseDrive, WhiteNoiseDrive, WhiteNoiseInput,
                                 uniform_intensity)
from eegfit.models.stuart_landau import StuartLandau
from eegfit.models.jansen_rit import JansenRit
from eegfit.models.wilson_cowan import WilsonCowan
from eegfit.models.wong_wang import WongWang

MODELS = {"jansen_rit": JansenRit, "wilson_cowan": WilsonCowan, "wong_wang": WongWang,
          "stuart_landau": StuartLandau}
"""Every model by the name a config uses (``model: {name: wilson_cowan, ...}``)."""


def model_class(name: str, where: str = "model.name") -> type:
    """The model class registered as ``name``; ``ValueError`` naming ``where`` and the known
    names otherwise."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{where}: unknown model {name!r}; known: {sorted(MODELS)}") from None


__all__ = ["ConstantDrive", "ConstantInput", "FINITE", "JansenRit", "MODELS", "Model",
           "NONNEGATIVE", "NeuralMass", "Node", "OUNoiseDrive", "POSITIVE", "Range", "StuartLandau",
           "UniformNoiseDrive", "WhiteNoiseDrive", "WhiteNoiseInput", "WilsonCowan", "WongWang", "check",
           "model_class", "pytree_dataclass", "static_field", "uniform_intensity"]
