"""``torch.nn.Module`` wrappers around the temperature primitives of :mod:`tempcheck.softmax`,
and :class:`LearnableTemperature` (docs/theory.md §7).

The functions in ``softmax.py`` are the reference; these modules only hold a temperature (and
α) so they can sit in an ``nn.Sequential`` or be configured once. Shapes and maths are those of
the wrapped functions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .errors import TemperatureError
from .softmax import (
    TemperatureLike,
    check_temperature,
    distillation_loss,
    gumbel_softmax,
    gumbel_temperature_schedule,
    info_nce,
    nt_xent,
)

CLAMPS = ("smooth", "hard")


class DistillationLoss(nn.Module):
    """α·CE(z_s, y) + (1 − α)·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)); see
    :func:`tempcheck.softmax.distillation_loss`. ``forward(student, teacher, targets)``."""

    def __init__(self, temperature: TemperatureLike, alpha=0.5, *, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_temperature(temperature, name="distillation temperature")
        self.alpha, self.reduction = alpha, reduction

    def forward(self, student_logits, teacher_logits, targets) -> torch.Tensor:
        return distillation_loss(student_logits, teacher_logits, targets, self.temperature,
                                 self.alpha, reduction=self.reduction)


class GumbelSoftmax(nn.Module):
    """Gumbel-softmax sampler with an optional annealed temperature.

    ``forward(logits, generator=None)`` returns a (soft or straight-through hard) sample at
    the current temperature; ``anneal(step)`` sets it from
    :func:`tempcheck.softmax.gumbel_temperature_schedule` with this module's schedule
    (``start``, ``floor``, ``rate``, ``every``; Jang et al. 2017).
    """

    def __init__(self, temperature: float = 1.0, *, hard: bool = False, floor: float = 0.5,
                 rate: float = 0.0, every: int = 1):
        super().__init__()
        self.start = float(check_temperature(temperature))
        self.temperature = self.start
        self.hard, self.floor, self.rate, self.every = hard, floor, rate, every

    def anneal(self, step: int) -> float:
        self.temperature = gumbel_temperature_schedule(
            step, start=self.start, floor=self.floor, rate=self.rate, every=self.every
        )
        return self.temperature

    def forward(self, logits: torch.Tensor, generator: torch.Generator | None = None):
        return gumbel_softmax(logits, self.temperature, hard=self.hard, generator=generator)


class InfoNCELoss(nn.Module):
    """InfoNCE over cosine similarities / τ; see :func:`tempcheck.softmax.info_nce`."""

    def __init__(self, temperature: TemperatureLike = 0.1, *, normalize: bool = True,
                 reduction: str = "mean"):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.normalize, self.reduction = normalize, reduction

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return info_nce(query, keys, self.temperature, normalize=self.normalize,
                        reduction=self.reduction)


class NTXentLoss(nn.Module):
    """SimCLR's NT-Xent; see :func:`tempcheck.softmax.nt_xent`."""

    def __init__(self, temperature: TemperatureLike = 0.5, *, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.reduction = reduction

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent(z1, z2, self.temperature, reduction=self.reduction)


def _inverse_softplus(x: float) -> float:
    """softplus⁻¹(x) = log(eˣ − 1) for x > 0, stable for large x."""
    return x + math.log(-math.expm1(-x))


class LearnableTemperature(nn.Module):
    """One learnable temperature per bank member, ``forward() -> τ (K,)``.

    Log-parametrised (docs/theory.md §7; CLIP learns the log of its logit scale): the trainable
    parameter ``offset`` s ``(K,)`` starts at 0 and

        log τ = g(r₀ + s),

    where r₀ (a buffer) is chosen so that τ starts at ``init`` and g depends on the bounds:

    - no bounds: g(r) = r, so s = log τ − log τ₀ exactly and τ ∈ (0, ∞);
    - ``clamp="hard"``: g(r) = clamp(r, log τ_min, log τ_max) — τ stays in [τ_min, τ_max] but
      the gradient is exactly 0 while it sits on a bound (CLIP clamps its scale at 100 this
      way);
    - ``clamp="smooth"`` (default): τ stays strictly inside the bounds and the gradient never
      vanishes exactly: with both bounds g(r) = a + (b − a)·σ(r) (a, b = log τ_min, log τ_max),
      with only a lower bound g(r) = a + softplus(r), with only an upper bound
      g(r) = b − softplus(r). Near a bound the gradient shrinks smoothly.

    Why an offset from r₀ rather than log τ itself: a bank optimiser applies weight decay to
    every parameter, which pulls s toward 0 — toward the initial τ, not toward τ = 1.

    Args:
        init: initial τ₀, scalar (needs ``members``) or ``(K,)``; finite and > 0.
        members: K when ``init`` is a scalar.
        bounds: ``None`` or ``(τ_min, τ_max)``, either may be ``None``; τ₀ must lie inside
            (strictly inside for the smooth clamp).
        clamp: ``"smooth"`` or ``"hard"``.
    """

    def __init__(self, init: TemperatureLike = 1.0, *, members: int | None = None,
                 bounds: tuple[float | None, float | None] | None = None,
                 clamp: str = "smooth"):
        super().__init__()
        tau0 = check_temperature(init, name="initial temperature").reshape(-1)
        if tau0.numel() == 1 and members is not None:
            tau0 = tau0.expand(int(members)).clone()
        if members is not None and tau0.numel() != members:
            raise ValueError(f"{tau0.numel()} initial temperatures for {members} members")
        if clamp not in CLAMPS:
            raise ValueError(f"clamp must be one of {', '.join(CLAMPS)}, got {clamp!r}")
        lo, hi = bounds if bounds is not None else (None, None)
        self.clamp = clamp
        self.log_min = None if lo is None else math.log(float(check_temperature(lo)))
        self.log_max = None if hi is None else math.log(float(check_temperature(hi)))
        if self.log_min is not None and self.log_max is not None and self.log_min >= self.log_max:
            raise TemperatureError(f"temperature bounds must have τ_min < τ_max, got {bounds}")
        self.register_buffer("base", torch.tensor([self._raw_start(float(t)) for t in tau0]))
        self.offset = nn.Parameter(torch.zeros(tau0.numel()))

    @property
    def members(self) -> int:
        return int(self.offset.shape[0])

    def _raw_start(self, tau0: float) -> float:
        """r₀ with g(r₀) = log τ₀."""
        x, a, b = math.log(tau0), self.log_min, self.log_max
        below = a is not None and (x < a or (self.clamp == "smooth" and x <= a))
        above = b is not None and (x > b or (self.clamp == "smooth" and x >= b))
        if below or above:
            where = "strictly inside" if self.clamp == "smooth" else "inside"
            raise TemperatureError(f"initial temperature {tau0:g} must lie {where} the bounds "
                                   f"[{_fmt(a)}, {_fmt(b)}]")
        if self.clamp == "hard" or (a is None and b is None):
            return x
        if a is not None and b is not None:
            u = (x - a) / (b - a)
            return math.log(u / (1.0 - u))
        if a is not None:
            return _inverse_softplus(x - a)
        return _inverse_softplus(b - x)

    def log_temperature(self) -> torch.Tensor:
        """log τ ``(K,)``, differentiable in ``offset``."""
        r = self.base + self.offset
        a, b = self.log_min, self.log_max
        if a is None and b is None:
            return r
        if self.clamp == "hard":
            return torch.clamp(r, min=a, max=b)
        if a is not None and b is not None:
            return a + (b - a) * torch.sigmoid(r)
        if a is not None:
            return a + F.softplus(r)
        return b - F.softplus(r)

    def forward(self) -> torch.Tensor:
        """τ ``(K,)``."""
        return self.log_temperature().exp()

    def scale_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """z / τ_k for banked logits ``(B, K, C)``, differentiable in τ."""
        return logits / self.forward().to(logits.dtype).unsqueeze(-1)

    def extra_repr(self) -> str:
        return (f"members={self.members}, bounds=[{_fmt(self.log_min)}, {_fmt(self.log_max)}], "
                f"clamp={self.clamp}")


def _fmt(log_value: float | None) -> str:
    return "-" if log_value is None else f"{math.exp(log_value):g}"
