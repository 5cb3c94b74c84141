"""Contrastive losses with a temperature: InfoNCE (van den Oord et al. 2018) and NT-Xent
(SimCLR, Chen et al. 2020) over cosine (or dot) similarities divided by τ.

Split out of :mod:`tempcheck.softmax`, which re-exports every name here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .softmax import TemperatureLike, _upcast, tempered_cross_entropy


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
