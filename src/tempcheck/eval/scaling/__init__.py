"""Post-hoc scaling of logits (Guo et al. 2017, "On Calibration of Modern Neural Networks",
ICML): temperature scaling and vector scaling, fitted by minimising the NLL on held-out
(validation) logits and then applied to any logits, ``(N, C)`` or banked ``(N, K, C)``.

- ``inputs.py``: what a fitting set must look like (shapes, labels, finite, not probabilities);
- ``temperature_fit.py``: the temperature optimiser (:func:`fit_temperature`, bounded L-BFGS on
  log T in float64, exact detection of sets without a finite minimiser);
- ``vector_fit.py``: the vector-scaling optimiser (:func:`fit_vector_scaling`, MAP toward the
  temperature-scaling solution, λ = 1/(σ² N));
- ``scalers.py``: the scaler objects (:class:`TemperatureScaler`, :class:`VectorScaler`) that
  fit, apply, save and load (:func:`load_scaler`).
"""

from .inputs import (
    GRAD_TOL,
    ProbabilityInputWarning,
    is_finite_member,
    looks_like_probabilities,
)
from .scalers import TemperatureScaler, VectorScaler, load_scaler
from .temperature_fit import DEFAULT_LOWER, DEFAULT_UPPER, TemperatureFit, fit_temperature
from .vector_fit import DEFAULT_PRIOR_SD, VectorFit, fit_vector_scaling

__all__ = [
    "DEFAULT_LOWER", "DEFAULT_PRIOR_SD", "DEFAULT_UPPER", "GRAD_TOL", "ProbabilityInputWarning",
    "TemperatureFit", "TemperatureScaler", "VectorFit", "VectorScaler", "fit_temperature",
    "fit_vector_scaling", "is_finite_member", "load_scaler", "looks_like_probabilities",
]
