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
    return F.log_softmax(scale_logits(logits, temperature, beta=beta), dim=-1)


def tempered_softmax(
    logits: torch.Tensor,
    temperature: TemperatureLike | None = None,
    *,
    beta: TemperatureLike | None = None,
) -> torch.Tensor:
    """softmax(z / τ) over the last axis. Shape of ``logits``; τ → ∞ gives the uniform law."""
    return F.softmax(scale_logits(logits, temperature, beta=beta), dim=-1)


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


def _similarities(a: torch.Tensor, b: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Cosine (or dot) similarities: (B, D)×(N, D) → (B, N); (B, K, D)×(N, K, D) → (B, K, N)."""
    a, b = _upcast(a), _upcast(b)
    if normalize:
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    if a.dim() == 2 and b.dim() == 2:
        return a @ b.T
    if a.dim() == 3 and b.dim() == 3 and a.shape[1] == b.shape[1]:
        return torch.einsum("bkd,nkd->bkn", a, b)
    raise ValueError(f"expected (B, D) and (N, D), or (B, K, D) and (N, K, D); got "
                     f"{tuple(a.shape)} and {tuple(b.shape)}")


def info_nce(
    query: torch.Tensor,
    keys: torch.Tensor,
    temperature: TemperatureLike,
    *,
    normalize: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """InfoNCE (van den Oord et al. 2018; as in MoCo / CLIP): key i is query i's positive, every
    other key a negative; logits are similarities divided by τ (docs/theory.md §7: τ ≈ 0.07–0.2).

        L_i = −log( exp(s(q_i, k_i)/τ) / Σ_j exp(s(q_i, k_j)/τ) ),  s = cosine (``normalize``)

    Args:
        query: ``(B, D)``, or banked ``(B, K, D)``.
        keys: ``(N, D)`` / ``(N, K, D)`` with N ≥ B (keys beyond B are extra negatives).
        temperature: τ > 0, scalar or ``(K,)`` for banked inputs.
        reduction: as :func:`tempered_cross_entropy` (banked "mean" gives ``(K,)``).

    At τ = 1 this is the cross-entropy of the similarity matrix against ``arange(B)``.
    """
    if keys.shape[0] < query.shape[0]:
        raise ValueError(f"need at least as many keys ({keys.shape[0]}) as queries "
                         f"({query.shape[0]})")
    sim = _similarities(query, keys, normalize)
    targets = torch.arange(query.shape[0], device=sim.device)
    return tempered_cross_entropy(sim, targets, temperature, reduction=reduction)


def nt_xent(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: TemperatureLike,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    """NT-Xent, SimCLR's normalised temperature-scaled cross-entropy (Chen et al. 2020).

    The 2N embeddings of two views are compared by cosine similarity / τ; each one's positive
    is its other view and its negatives the remaining 2N − 2 (itself excluded). The loss is the
    mean over all 2N anchors.

    Args:
        z1, z2: ``(N, D)`` (or banked ``(N, K, D)``) embeddings of the two views, row i paired.
        temperature: τ > 0, scalar or ``(K,)``.
        reduction: ``"none"`` gives the 2N per-anchor losses (view 1 first), else mean / sum.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"views have different shapes {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1.shape[0]
    z = torch.cat([z1, z2], dim=0)  # (2N, D) or (2N, K, D)
    sim = _similarities(z, z, normalize=True)  # (2N, 2N) or (2N, K, 2N)
    eye = torch.eye(2 * n, dtype=torch.bool, device=sim.device)
    if sim.dim() == 3:
        eye = eye.unsqueeze(1)  # (2N, 1, 2N)
    sim = sim.masked_fill(eye, -math.inf)  # an anchor is never its own negative
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(sim.device)
    return tempered_cross_entropy(sim, targets, temperature, reduction=reduction)
