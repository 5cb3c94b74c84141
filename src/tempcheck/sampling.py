"""Sampling with a temperature and the Gumbel-softmax relaxation (Jang, Gu, Poole 2017;
Maddison, Mnih, Teh 2017), on banked logits like every temperature primitive.

- :func:`sample_with_temperature`: draw from softmax(z / τ) with optional top-k / top-p
  (nucleus) truncation; τ = 0 is the argmax. Draws follow a ``torch.Generator`` when given.
- :func:`gumbel_softmax`: softmax((z + g) / τ) with Gumbel noise g, optionally straight-through
  hard one-hot; :func:`gumbel_temperature_schedule`: the exponential-decay τ schedule.

Split out of :mod:`tempcheck.softmax`, which re-exports every name here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import TemperatureError
from .softmax import TemperatureLike, _temperature_for, _upcast, check_temperature


def _sampling_temperature(temperature) -> torch.Tensor:
    t = torch.as_tensor(temperature, dtype=torch.float64).detach().cpu()
    if t.dim() > 1 or t.numel() == 0:
        raise TemperatureError(
            f"temperature must be a scalar or a (K,) vector, got shape {tuple(t.shape)}"
        )
    for value in t.reshape(-1).tolist():
        if not math.isfinite(value) or value < 0:
            raise TemperatureError(f"sampling temperature must be finite and >= 0, got {value!r}")
    return t


def _draw_device(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    """Random draws happen where the generator lives (a CPU generator cannot fill CUDA)."""
    return generator.device if generator is not None else fallback


def top_k_top_p_mask(scaled_logits: torch.Tensor, top_k: int | None = None,
                     top_p: float | None = None) -> torch.Tensor:
    """Boolean mask (shape of the logits) of the classes *removed* by top-k then top-p.

    top-k keeps the k largest logits (ties broken by ``torch.topk``); top-p ("nucleus",
    Holtzman et al. 2020) then keeps the smallest set of the most probable remaining classes,
    under softmax of the given (already tempered) logits, whose mass is ≥ p. The most probable
    class is never removed.
    """
    c = scaled_logits.shape[-1]
    removed = torch.zeros_like(scaled_logits, dtype=torch.bool)
    if top_k is not None:
        if int(top_k) < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        keep = scaled_logits.topk(min(int(top_k), c), dim=-1).indices
        removed = torch.ones_like(removed).scatter(-1, keep, False)
    if top_p is not None:
        if not 0.0 < float(top_p) <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        probs = F.softmax(scaled_logits.masked_fill(removed, -math.inf).double(), dim=-1)
        sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)
        mass_before = sorted_p.cumsum(dim=-1) - sorted_p  # mass of the strictly better classes
        removed = removed | torch.zeros_like(removed).scatter(-1, order, mass_before >= top_p)
    return removed


@torch.no_grad()
def sample_with_temperature(
    logits: torch.Tensor,
    temperature: TemperatureLike,
    *,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one class per row from softmax(z / τ), optionally restricted by top-k / top-p
    (docs/theory.md §7: divide by τ first, then filter).

    Args:
        logits: ``(..., C)``; with a ``(K,)`` temperature, ``(..., K, C)``.
        temperature: τ ≥ 0, scalar or ``(K,)``. τ = 0 is exactly ``argmax`` (no randomness,
            first maximum on ties); it is allowed here, unlike in the training functions.
        top_k, top_p: see :func:`top_k_top_p_mask`.
        generator: a seeded ``torch.Generator`` for reproducible draws (on any device; the
            draw happens on the generator's device).

    Returns:
        int64 class indices of shape ``logits.shape[:-1]``.
    """
    z = _upcast(logits).detach()
    tau = _sampling_temperature(temperature)
    greedy = z.argmax(dim=-1)
    if bool((tau == 0).all()):
        return greedy
    # members at τ = 0 are sampled at a placeholder τ and then overwritten by the argmax
    tau_safe = torch.where(tau > 0, tau, torch.ones_like(tau))
    scaled = z / _temperature_for(z, tau_safe)
    scaled = scaled.masked_fill(top_k_top_p_mask(scaled, top_k, top_p), -math.inf)
    probs = F.softmax(scaled, dim=-1).reshape(-1, z.shape[-1])
    draws = torch.multinomial(probs.to(_draw_device(generator, z.device)), 1,
                              generator=generator)
    draws = draws.to(z.device).reshape(z.shape[:-1])
    if bool((tau == 0).any()):
        cold = _temperature_for(z, tau).squeeze(-1) == 0  # (K,) broadcast over leading axes
        draws = torch.where(cold, greedy, draws)
    return draws


def gumbel_noise(shape, *, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard Gumbel(0, 1) samples g = −log(−log u), u ~ U(0, 1) kept away from 0."""
    draw_on = _draw_device(generator, torch.device(device or "cpu"))
    u = torch.rand(shape, generator=generator, device=draw_on, dtype=dtype)
    u = u.clamp_min(torch.finfo(dtype).tiny)  # u = 0 would give g = −inf
    return (-torch.log(-torch.log(u))).to(device or draw_on)


def gumbel_softmax(
    logits: torch.Tensor,
    temperature: TemperatureLike,
    *,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Gumbel-softmax / Concrete sample (Jang, Gu, Poole 2017; Maddison et al. 2017).

        y = softmax((z + g) / τ),  g ~ Gumbel(0, 1) i.i.d.

    ``logits`` are unnormalised log-probabilities log π (+ any constant). As τ → 0, y tends to
    the one-hot of argmax(z + g), which is an exact sample of Categorical(softmax(z)) (the
    Gumbel-max trick); larger τ gives smoother samples and lower-variance gradients.

    Args:
        logits: ``(..., C)``, or ``(..., K, C)`` with a ``(K,)`` temperature.
        temperature: τ > 0, scalar or ``(K,)``.
        hard: return the one-hot of argmax y in the forward pass with the gradient of the soft
            y (straight-through estimator): ``y_hard − y.detach() + y``.
        generator: seeded generator for the noise.

    Returns:
        samples of the shape of ``logits``, each row on the simplex (one-hot when ``hard``).
    """
    z = _upcast(logits)
    tau = _temperature_for(z, check_temperature(temperature))
    g = gumbel_noise(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    y = F.softmax((z + g) / tau, dim=-1)
    if not hard:
        return y
    y_hard = F.one_hot(y.argmax(dim=-1), y.shape[-1]).to(y.dtype)
    return y_hard - y.detach() + y


def gumbel_temperature_schedule(
    step: int, *, start: float = 1.0, floor: float = 0.5, rate: float = 1e-4, every: int = 1
) -> float:
    """Annealed Gumbel-softmax temperature τ(t) = max(floor, start·exp(−rate·t)).

    Jang et al. (2017) anneal from τ = 1 with rate r ∈ {1e-5, 1e-4} toward a floor of 0.5,
    updating every N steps: t is ``step`` rounded down to a multiple of ``every``.
    """
    if step < 0 or every < 1:
        raise ValueError(f"need step >= 0 and every >= 1, got step={step}, every={every}")
    if rate < 0 or not math.isfinite(rate):
        raise ValueError(f"rate must be finite and >= 0, got {rate}")
    check_temperature(start, name="start temperature")
    check_temperature(floor, name="floor temperature")
    t = (int(step) // int(every)) * int(every)
    return max(float(floor), float(start) * math.exp(-rate * t))
