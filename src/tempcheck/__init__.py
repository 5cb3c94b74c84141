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

__all__ = [
    "TempcheckError",
    "check_temperature",
    "tempered_cross_entropy",
    "tempered_log_softmax",
    "tempered_softmax",
    "__version__",
]
