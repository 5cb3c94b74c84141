"""Losses an attack climbs, per sample and member (docs/theory.md §5).

Every loss maps banked logits ``(B, K, C)`` and labels ``(B,)`` (or ``(B, K)``) to a ``(B, K)``
tensor that the attack *increases*. With ``target`` (``(B,)`` or ``(B, K)``) the targeted version
is returned, also to be increased.

- ``"ce_tau"``: CE_τ(z, y) at the member's training temperature (``temperatures`` is ``(K,)``);
  targeted: −CE_τ(z, t).
- ``"ce_raw"``: CE on the raw logits (τ = 1); targeted: −CE(z, t).
- ``"margin"``: the Carlini–Wagner margin max_{j≠y} z_j − z_y (> 0 exactly when misclassified);
  targeted: z_t − max_{j≠t} z_j.
- ``"dlr"``: Croce & Hein 2020, −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e−12); targeted (their
  DLR-T): −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e−12), with π the logits sorted descending.

Margin and DLR see only logit differences, so adding a constant to every logit leaves them
unchanged; DLR is also unchanged by any positive scaling, and margin scales with it (so its sign
and the sign of its gradient — all a sign-gradient step uses — are unchanged). No temperature can
saturate them, which is why they expose the vanishing CE gradients of a cold softmax.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..softmax import tempered_cross_entropy

LOSSES = ("ce_tau", "ce_raw", "margin", "dlr")
_DLR_EPS = 1e-12

LossFn = Callable[..., torch.Tensor]


def _per_member(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Labels ``(B,)`` or ``(B, K)`` → ``(B, K)`` long on the logits' device."""
    labels = labels.to(device=logits.device, dtype=torch.long)
    if labels.dim() == 1:
        labels = labels.unsqueeze(1).expand(logits.shape[:2])
    if labels.shape != logits.shape[:2]:
        raise ValueError(
            f"labels of shape {tuple(labels.shape)} do not match logits {tuple(logits.shape)}"
        )
    return labels


def _pick(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # (B, K)


def _max_other(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """max_{j ≠ label} z_j, shape ``(B, K)``."""
    masked = logits.scatter(-1, labels.unsqueeze(-1), float("-inf"))
    return masked.amax(-1)


def margin_loss(
    logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None = None
) -> torch.Tensor:
    """CW margin ``(B, K)``: max_{j≠y} z_j − z_y, or z_t − max_{j≠t} z_j when targeted."""
    z = logits.float()
    if target is None:
        y = _per_member(labels, z)
        return _max_other(z, y) - _pick(z, y)
    t = _per_member(target, z)
    return _pick(z, t) - _max_other(z, t)


def dlr_loss(
    logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None = None
) -> torch.Tensor:
    """DLR / targeted DLR of Croce & Hein 2020, ``(B, K)``; needs ≥ 3 (targeted: ≥ 4) classes."""
    z = logits.float()
    need = 3 if target is None else 4
    if z.shape[-1] < need:
        raise ValueError(f"DLR{'-T' if target is not None else ''} needs >= {need} classes")
    y = _per_member(labels, z)
    top = z.topk(need, dim=-1).values  # (B, K, need), descending
    if target is None:
        return -(_pick(z, y) - _max_other(z, y)) / (top[..., 0] - top[..., 2] + _DLR_EPS)
    t = _per_member(target, z)
    scale = top[..., 0] - 0.5 * (top[..., 2] + top[..., 3]) + _DLR_EPS
    return -(_pick(z, y) - _pick(z, t)) / scale


def cross_entropy_loss(
    logits: torch.Tensor, labels: torch.Tensor, temperatures, target: torch.Tensor | None = None
) -> torch.Tensor:
    """CE_τ ``(B, K)`` (untargeted), or −CE_τ towards ``target``; τ scalar or ``(K,)``."""
    z = logits.float()
    if target is None:
        return tempered_cross_entropy(z, _per_member(labels, z), temperatures, reduction="none")
    return -tempered_cross_entropy(z, _per_member(target, z), temperatures, reduction="none")


def attack_loss(
    name: str, logits: torch.Tensor, labels: torch.Tensor, *, temperatures=None,
    target: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss ``name`` (one of :data:`LOSSES`) per sample and member, ``(B, K)``.

    ``temperatures`` (``(K,)``) is required by ``"ce_tau"`` and ignored by the others.
    """
    if name == "ce_tau":
        if temperatures is None:
            raise ValueError("loss 'ce_tau' needs the members' temperatures")
        return cross_entropy_loss(logits, labels, temperatures, target)
    if name == "ce_raw":
        return cross_entropy_loss(logits, labels, 1.0, target)
    if name == "margin":
        return margin_loss(logits, labels, target)
    if name == "dlr":
        return dlr_loss(logits, labels, target)
    raise ValueError(f"unknown attack loss {name!r}; known: {', '.join(LOSSES)}")
