"""Small helpers shared by the analysis evaluations: subsampling, member masks, histograms and
option checks. Nothing here knows about temperature."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ConfigError


def subsample(n_total: int, n: int, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded random subset of size ``min(n, n_total)`` (all when n ≤ 0).

    Splits may be stored class by class, so taking the first n would bias the subset."""
    if n <= 0 or n >= n_total:
        return torch.arange(n_total)
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n_total, generator=g)[:n].sort().values


def finite_members(t: torch.Tensor) -> torch.Tensor:
    """``(K,)`` bool: members whose slice of ``t`` (N, K, ...) is finite everywhere (a diverged
    member has NaN/inf logits and gets NaN statistics instead of poisoning the others)."""
    flat = t.transpose(0, 1).reshape(t.shape[1], -1)
    return torch.isfinite(flat).all(dim=1)


def histograms(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts ``(K, bins)`` of ``values`` (N, K) per member; ``edges`` is shared ``(bins + 1,)``
    or per member ``(K, bins + 1)``. Non-finite values are not counted."""
    values = np.asarray(values, dtype=float)
    k = values.shape[1]
    edges = np.asarray(edges, dtype=float)
    per_member = edges.ndim == 2
    bins = edges.shape[-1] - 1
    out = np.zeros((k, bins), dtype=np.int64)
    for m in range(k):
        v = values[:, m]
        e = edges[m] if per_member else edges
        v = v[np.isfinite(v)]
        if v.size and np.all(np.isfinite(e)):
            out[m] = np.histogram(v, bins=e)[0]
    return out


def member_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Per-member bin edges ``(K, bins + 1)`` spanning each member's finite range (quantities
    such as the logit norm differ by orders of magnitude across τ, so shared edges would squash
    all but one member into a single bin). NaN edges for a member without finite values."""
    values = np.asarray(values, dtype=float)
    out = np.full((values.shape[1], bins + 1), np.nan)
    for m in range(values.shape[1]):
        v = values[:, m][np.isfinite(values[:, m])]
        if v.size:
            lo, hi = float(v.min()), float(v.max())
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            out[m] = np.linspace(lo, hi, bins + 1)
    return out


def nan_means(values: torch.Tensor, ok: torch.Tensor) -> list[float]:
    """Mean over samples of ``values`` (N, K) per member; NaN for members not in ``ok``."""
    means = values.double().mean(0)
    return [float(v) if bool(o) and math.isfinite(float(v)) else math.nan
            for v, o in zip(means.tolist(), ok.tolist())]


def check_int(evaluation: str, name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"eval.{evaluation}.{name} must be an integer ≥ {minimum}, "
                          f"got {value!r}")


def check_bool(evaluation: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"eval.{evaluation}.{name} must be true or false, got {value!r}")


def check_float(evaluation: str, name: str, value, *, positive: bool = True) -> None:
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) \
        or not math.isfinite(value) or (positive and value <= 0)
    if bad:
        raise ConfigError(f"eval.{evaluation}.{name} must be a number"
                          f"{' > 0' if positive else ''}, got {value!r}")
