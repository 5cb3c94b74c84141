"""Temperatures that change during training: schedules over training progress, and the
learnable per-member temperature (docs/theory.md §7).

A schedule is a pure function ``(progress, start, end) -> τ``: ``progress`` is the fraction of
training done, in [0, 1] (values outside are clipped), ``start`` / ``end`` are τ at progress 0
and 1, scalars or ``(K,)`` vectors (one per member), and the result has their broadcast shape.
Every schedule moves monotonically from ``start`` to ``end``:

- ``constant``: τ = start (``end`` is ignored);
- ``linear``: τ = start + (end − start)·p;
- ``cosine``: τ = end + (start − end)·(1 + cos πp)/2 (flat at both ends, like the LR schedule);
- ``exponential``: τ = start·(end / start)^p, i.e. linear in log τ — the natural spacing for a
  quantity swept on a log axis.

:class:`~tempcheck.losses.LearnableTemperature` (log-parametrised, optional smooth or hard
bounds) lives in :mod:`tempcheck.losses` and is re-exported here.
"""

from __future__ import annotations

import math

import torch

from ..losses import LearnableTemperature
from ..softmax import TemperatureLike, check_temperature

__all__ = ["LearnableTemperature", "SCHEDULES", "scheduled_temperature", "constant_schedule",
           "linear_schedule", "cosine_schedule", "exponential_schedule"]


def _prepare(progress: float, start: TemperatureLike, end: TemperatureLike):
    p = min(1.0, max(0.0, float(progress)))
    return (p, check_temperature(start, name="start temperature"),
            check_temperature(end, name="end temperature"))


def constant_schedule(progress: float, start: TemperatureLike,
                      end: TemperatureLike | None = None) -> torch.Tensor:
    """τ = start at every progress (broadcast against ``end`` when given)."""
    a = check_temperature(start, name="start temperature")
    if end is None:
        return a.clone()
    return a + 0.0 * check_temperature(end, name="end temperature")


def linear_schedule(progress: float, start: TemperatureLike, end: TemperatureLike) -> torch.Tensor:
    """τ = start + (end − start)·p."""
    p, a, b = _prepare(progress, start, end)
    return a + (b - a) * p


def cosine_schedule(progress: float, start: TemperatureLike, end: TemperatureLike) -> torch.Tensor:
    """τ = end + (start − end)·(1 + cos πp)/2."""
    p, a, b = _prepare(progress, start, end)
    return b + (a - b) * (0.5 * (1.0 + math.cos(math.pi * p)))


def exponential_schedule(progress: float, start: TemperatureLike,
                         end: TemperatureLike) -> torch.Tensor:
    """τ = start·(end / start)^p (geometric interpolation; linear in log τ)."""
    p, a, b = _prepare(progress, start, end)
    return torch.exp(torch.log(a) + (torch.log(b) - torch.log(a)) * p)


SCHEDULES = {
    "constant": constant_schedule,
    "linear": linear_schedule,
    "cosine": cosine_schedule,
    "exponential": exponential_schedule,
}


def scheduled_temperature(progress: float, start: TemperatureLike, end: TemperatureLike,
                          kind: str = "cosine") -> torch.Tensor:
    """τ(progress) for the schedule ``kind``; float64 CPU tensor of the shape of start/end."""
    if kind not in SCHEDULES:
        from ..errors import ConfigError

        raise ConfigError(f"unknown temperature schedule {kind!r}; known: {', '.join(SCHEDULES)}")
    return SCHEDULES[kind](progress, start, end)
