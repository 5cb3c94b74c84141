"""Learning-rate schedules as pure functions of the step: a multiplicative factor in [0, 1].

Warm-up is linear from 0 to 1 over ``warmup_steps`` and composes with any schedule: after
warm-up, ``cosine`` decays from 1 to 0 over the remaining steps, ``step`` multiplies by ``gamma``
every ``step_every`` steps, ``constant`` stays at 1.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "step")


def lr_factor(
    step: int, total_steps: int, *, schedule: str = "cosine", warmup_steps: int = 0,
    step_every: int = 1, gamma: float = 0.1,
) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return gamma ** ((step - warmup_steps) // max(1, step_every))
    remaining = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / remaining)
    return 0.5 * (1.0 + math.cos(math.pi * progress))
