"""Checks shared by every post-hoc scaler: what a fitting set must look like.

Logits are ``(N, C)`` or banked ``(N, K, C)``; labels ``(N,)`` integers in [0, C). A set that
looks like probabilities (rows non-negative, summing to 1) is fitted anyway, with a
:class:`ProbabilityInputWarning`: scaling probabilities instead of logits is a known mistake.
"""

from __future__ import annotations

import math
import warnings

import torch

from ...errors import DataError

GRAD_TOL = 1e-6  # fits end with every |gradient| below this (of the objective each fit states)


class ProbabilityInputWarning(UserWarning):
    """Scaling was asked of what look like probabilities, not logits."""


def looks_like_probabilities(logits: torch.Tensor, atol: float = 1e-4) -> bool:
    """True when every row of ``logits`` (…, C) is non-negative and sums to 1 within ``atol``."""
    if logits.numel() == 0 or float(logits.min()) < 0:
        return False
    return bool(((logits.detach().sum(-1, dtype=torch.float64) - 1.0).abs() <= atol).all())


def prepare(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a fitting set; return logits ``(N, K, C)`` float64 and labels ``(N,)`` long."""
    if logits.dim() not in (2, 3):
        raise ValueError(f"logits must be (N, C) or (N, K, C), got {tuple(logits.shape)}")
    z = logits.detach().cpu()
    z = z.unsqueeze(1) if z.dim() == 2 else z
    n, _, c = z.shape
    y = torch.as_tensor(labels).detach().cpu()
    if y.dim() != 1 or y.shape[0] != n:
        raise ValueError(f"labels must be (N,) with N={n}, got {tuple(y.shape)}")
    if n == 0:
        raise DataError("cannot fit a scaler on an empty set of logits")
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise DataError("labels must be integers")
    y = y.long()
    if int(y.min()) < 0 or int(y.max()) >= c:
        raise DataError(f"labels must lie in [0, {c - 1}], got [{int(y.min())}, {int(y.max())}]")
    if not z.is_floating_point():
        z = z.double()
    # A finite float64 sum implies every entry is finite (NaN / ±inf propagate); only an
    # overflowing sum of huge finite values needs the elementwise check.
    if not math.isfinite(float(z.sum(dtype=torch.float64))) and not bool(torch.isfinite(z).all()):
        raise DataError("logits contain NaN or inf")
    if looks_like_probabilities(z):
        warnings.warn(
            "the inputs look like probabilities (rows non-negative, summing to 1), not logits; "
            "scaling probabilities is a known mistake — pass logits, or log-probabilities",
            ProbabilityInputWarning, stacklevel=3,
        )
    return z.to(torch.float64, copy=True), y  # a private copy: callers may work in place


def per_member(value, k: int, name: str) -> torch.Tensor:
    """A scalar or (K,) value as a (K,) float64 tensor."""
    t = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
    if t.numel() == 1:
        t = t.expand(k).clone()
    if t.shape[0] != k:
        raise ValueError(f"{name} must be a scalar or have {k} entries, got {t.numel()}")
    return t


def is_finite_member(logits: torch.Tensor) -> torch.Tensor:
    """(K,) bool: member k's logits (N, K, C) are all finite (diverged members are not)."""
    return torch.isfinite(logits).all(-1).all(0)
