"""tempcheck: the softmax temperature as a first-class, measured hyperparameter.

``import tempcheck`` needs only torch and numpy; heavier parts load lazily.
"""

from .errors import TempcheckError
from .softmax import (
    check_temperature,
    tempered_cross_entropy,
    tempered_log_softmax,
    tempered_softmax,
)

__version__ = "0.1.0"

# the user-model entry points load lazily (they pull in torch.func and the model families)
_LAZY = {"bank": "tempcheck.models.functional_bank", "load_member": "tempcheck.export",
         "evaluate_model": "tempcheck.external"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tempcheck' has no attribute {name!r}")

__all__ = [
    "TempcheckError",
    "bank",
    "evaluate_model",
    "load_member",
    "check_temperature",
    "tempered_cross_entropy",
    "tempered_log_softmax",
    "tempered_softmax",
    "__version__",
]
