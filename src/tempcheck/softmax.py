"""Tempered softmax, log-softmax and cross-entropy: the temperature primitives.

Every function takes the temperature explicitly, as τ (``temperature``) or as the inverse
temperature β = 1/τ (``beta``), never both. A temperature is a Python number, a 0-d tensor, or a
``(K,)`` vector with one entry per bank member; a vector is broadcast over the member axis, which
is the second-to-last axis of the logits, so logits are ``(B, K, C)`` (or ``(..., K, C)``).

Maths (docs/theory.md §1):
    p = softmax(z / τ),   CE_τ(z, y) = logsumexp(z / τ) − z_y / τ,   ∂CE_τ/∂z = (p − onehot(y)) / τ.

Everything goes through ``log_softmax`` (never ``log(softmax(...))``) so the loss stays finite in
float32 for τ in [1e-3, 1e3] and |z| up to 1e4. Half-precision logits are upcast to float32 first:
a division by a small τ overflows float16.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .errors import TemperatureError

TemperatureLike = float | int | Sequence[float] | torch.Tensor


def check_temperature(temperature: TemperatureLike, *, name: str = "temperature") -> torch.Tensor:
    """Validate a temperature and return it as a float64 CPU tensor (0-d or 1-d).

    Raises:
        TemperatureError: if any value is not finite or not strictly positive, naming the value.
    """
    t = torch.as_tensor(temperature, dtype=torch.float64).detach().cpu()
    if t.dim() > 1:
        raise TemperatureError(f"{name} must be a scalar or a (K,) vector, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise TemperatureError(f"{name} is empty")
    flat = t.reshape(-1)
    for value in flat.tolist():
        if not math.isfinite(value) or value <= 0:
            raise TemperatureError(f"{name} must be finite and > 0, got {value!r}")
    return t


def resolve_temperature(
    temperature: TemperatureLike | None = None, beta: TemperatureLike | None = None
) -> torch.Tensor:
    """Return τ from exactly one of ``temperature`` (τ) or ``beta`` (β = 1/τ), validated."""
    if (temperature is None) == (beta is None):
        raise TemperatureError("give exactly one of temperature (τ) or beta (β = 1/τ)")
    if beta is not None:
        return 1.0 / check_temperature(beta, name="beta")
    return check_temperature(temperature, name="temperature")


def _temperature_for(logits: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Shape τ so that it broadcasts against ``logits`` (..., K, C): scalar, or (K, 1)."""
    tau = tau.to(device=logits.device, dtype=logits.dtype)
    if tau.dim() == 0:
        return tau
    if logits.dim() < 2 or logits.shape[-2] != tau.shape[0]:
        raise TemperatureError(
            f"a (K,) temperature vector with K={tau.shape[0]} needs logits (..., K, C); "
            f"got logits of shape {tuple(logits.shape)}"
        )
    return tau.unsqueeze(-1)  # (K, 1)


def _upcast(logits: torch.Tensor) -> torch.Tensor:
    if logits.dtype in (torch.float16, torch.bfloat16):
        return logits.float()
    return logits


def scale_logits(
    logits: torch.Tensor,
    temperature: TemperatureLike | None = None,
    *,
    beta: TemperatureLike | None = None,
) -> torch.Tensor:
    """Return ``logits / τ`` (== β·logits), τ broadcast over the member axis."""
    logits = _upcast(logits)
    tau = _temperature_for(logits, resolve_temperature(temperature, beta))
    return logits / tau


def tempered_log_softmax(
    logits: torch.Tensor,
    temperature: TemperatureLike | None = None,
    *,
    beta: TemperatureLike | None = None,
) -> torch.Tensor:
    """log softmax(z / τ) over the last axis. Shape of ``logits``."""
    return F.log_softmax(scale_logits(_shift_to_max(logits), temperature, beta=beta), dim=-1)


def tempered_softmax(
    logits: torch.Tensor,
    temperature: TemperatureLike | None = None,
    *,
    beta: TemperatureLike | None = None,
) -> torch.Tensor:
    """softmax(z / τ) over the last axis. Shape of ``logits``; τ → ∞ gives the uniform law."""
    return F.softmax(scale_logits(_shift_to_max(logits), temperature, beta=beta), dim=-1)


def _shift_to_max(logits: torch.Tensor) -> torch.Tensor:
    """z − max(z) over the last axis (the max as a constant: softmax is shift-invariant, so
    values and every derivative are unchanged). Shifting *before* dividing by τ matters in
    float32: at |z|/τ ≈ 3,000 rounding z/τ itself costs 1e-4 absolute, which moves near-tied
    classes' probabilities by more than float32's 1e-7; z − max(z) is exact for the classes that
    carry the probability mass (Sterbenz), and dividing the small differences loses nothing."""
    logits = _upcast(logits)  # shift in float32 at least, as the division is done
    if logits.shape[-1] == 0:
        return logits
    return logits - logits.detach().amax(dim=-1, keepdim=True)


def _targets_for(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Broadcast integer labels (B,) to the logits' leading shape (B, K) when needed."""
    lead = logits.shape[:-1]
    targets = targets.to(device=logits.device, dtype=torch.long)
    if targets.shape == lead:
        return targets
    if logits.dim() == 3 and targets.dim() == 1 and targets.shape[0] == lead[0]:
        return targets.unsqueeze(1).expand(lead)  # (B, K)
    raise ValueError(
        f"targets of shape {tuple(targets.shape)} do not match logits of shape {tuple(logits.shape)}"
    )


def _reduce_batch(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce per-sample losses ``(B,)`` / ``(B, K)`` over the batch axis only."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean(dim=0)
    if reduction == "sum":
        return loss.sum(dim=0)
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def tempered_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: TemperatureLike | None = None,
    *,
    beta: TemperatureLike | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy of softmax(z / τ) against integer labels, with optional label smoothing.

    Args:
        logits: ``(B, C)`` or banked ``(B, K, C)``.
        targets: integer labels ``(B,)`` (shared by all members) or ``(B, K)``.
        temperature / beta: τ or β = 1/τ, scalar or ``(K,)``.
        label_smoothing: ε in [0, 1); the target is (1 − ε)·onehot + ε/C.
        reduction: ``"none"`` → per-sample losses ``(B,)`` or ``(B, K)``; ``"mean"`` / ``"sum"``
            reduce over the batch axis only, so banked logits give one loss per member ``(K,)``
            (a sum over members then trains each member exactly as if it were alone).

    At τ = 1 this equals ``torch.nn.functional.cross_entropy``; its gradient is (p − y)/τ.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    log_p = tempered_log_softmax(logits, temperature, beta=beta)
    targets = _targets_for(log_p, targets)
    nll = -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if label_smoothing > 0.0:
        smooth = -log_p.mean(dim=-1)
        loss = (1.0 - label_smoothing) * nll + label_smoothing * smooth
    else:
        loss = nll
    return _reduce_batch(loss, reduction)


def cross_entropy_gradient(
    logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: TemperatureLike | None = None,
    *,
    beta: TemperatureLike | None = None,
) -> torch.Tensor:
    """Closed-form ∂CE_τ/∂z = (softmax(z/τ) − onehot(y)) / τ, per sample. Shape of ``logits``."""
    tau_t = resolve_temperature(temperature, beta)
    p = tempered_softmax(logits, tau_t)
    onehot = F.one_hot(_targets_for(p, targets), p.shape[-1]).to(p.dtype)
    return (p - onehot) / _temperature_for(p, tau_t)


# -- other temperature primitives (docs/theory.md §7) ---------------------------------------------


def _alpha_for(logits: torch.Tensor, alpha) -> torch.Tensor:
    """Validate the distillation weight α ∈ [0, 1] (scalar or (K,)) and shape it as (K,) / ()."""
    a = torch.as_tensor(alpha, dtype=torch.float64).detach().cpu()
    if a.dim() > 1 or a.numel() == 0:
        raise ValueError(f"alpha must be a scalar or a (K,) vector, got shape {tuple(a.shape)}")
    for value in a.reshape(-1).tolist():
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"alpha must be in [0, 1], got {value!r}")
    if a.dim() == 1 and (logits.dim() < 3 or logits.shape[-2] != a.shape[0]):
        raise ValueError(
            f"a (K,) alpha with K={a.shape[0]} needs logits (B, K, C); got {tuple(logits.shape)}"
        )
    return a.to(device=logits.device, dtype=logits.dtype)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: TemperatureLike,
    alpha=0.5,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    """Knowledge distillation (Hinton, Vinyals, Dean 2015; docs/theory.md §7).

        L = α·CE(z_s, y) + (1 − α)·T²·KL(softmax(z_t / T) ‖ softmax(z_s / T))

    The hard-label term is at temperature 1; the T² factor keeps the soft term's gradient
    O(1) as T grows (∂(T²·KL)/∂z_s = T·(p_s − p_t), which tends to (z_s − z_t)/C for centred
    logits as T → ∞, the "logit matching" limit), so α means the same thing at every T.

    Args:
        student_logits: ``(B, C)`` or banked ``(B, K, C)``.
        teacher_logits: ``(B, C)`` (shared by every student member) or ``(B, K, C)``. Treated
            as constants (detached): the teacher is not trained by this loss.
        targets: integer labels ``(B,)`` (or ``(B, K)``).
        temperature: distillation temperature T, scalar or ``(K,)`` (one per student member).
        alpha: weight α ∈ [0, 1] of the hard-label term, scalar or ``(K,)``; α = 1 is plain CE.
        reduction: ``"none"`` → ``(B,)`` / ``(B, K)``; ``"mean"`` / ``"sum"`` over the batch
            only, so banked logits give one loss per member ``(K,)``.
    """
    s = _upcast(student_logits)
    t = _upcast(teacher_logits).detach().to(device=s.device, dtype=s.dtype)
    if s.dim() == 3 and t.dim() == 2:
        t = t.unsqueeze(1).expand_as(s)  # (B, K, C): one teacher for every member
    if t.shape != s.shape:
        raise ValueError(
            f"teacher logits {tuple(teacher_logits.shape)} do not match student logits "
            f"{tuple(student_logits.shape)}"
        )
    tau = check_temperature(temperature, name="distillation temperature")
    a = _alpha_for(s, alpha)
    hard = tempered_cross_entropy(s, targets, 1.0, reduction="none")  # (B,) or (B, K)
    log_ps = tempered_log_softmax(s, tau)
    log_pt = tempered_log_softmax(t, tau)
    # kl_div with log_target: Σ p_t (log p_t − log p_s), exact zeros where p_t underflows
    kl = F.kl_div(log_ps, log_pt, reduction="none", log_target=True).sum(dim=-1)
    t_sq = _temperature_for(s, tau).squeeze(-1) ** 2  # () or (K,)
    return _reduce_batch(a * hard + (1.0 - a) * t_sq * kl, reduction)


# sampling, Gumbel and contrastive helpers live in their own modules; importable from here too
from .contrastive import info_nce, nt_xent  # noqa: E402, F401
from .sampling import (  # noqa: E402, F401
    gumbel_noise,
    gumbel_softmax,
    gumbel_temperature_schedule,
    sample_with_temperature,
    top_k_top_p_mask,
)
