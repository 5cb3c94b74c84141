"""Banked layers for token ids: per-member embedding tables and token-id input handling.

Token ids are ``(B, L)`` int64 (one batch shared by all members) or ``(B, K, L)`` (one sequence
per member). Member k's table lives at ``weight[k]`` ``(V, D)``; the K tables are looked up as
one ``(K·V, D)`` table with member-offset ids, so a bank costs one gather, not K.

Padding: the ``pad_id`` row of every member is initialised to zero and the output at padding
positions is masked to zero, so padding contributes nothing and its row receives no gradient
(the behaviour of ``nn.Embedding(padding_idx=...)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import BankModule


def member_ids(ids: torch.Tensor, members: int) -> tuple[torch.Tensor, bool]:
    """Validate token ids; return ``(ids (B, K, L), shared)``. Shared ``(B, L)`` ids are
    expanded (a view, no copy)."""
    if ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"text models take integer token ids, got {ids.dtype} input "
                         f"{tuple(ids.shape)} (is the dataset an image dataset?)")
    if ids.dim() == 2:
        return ids.unsqueeze(1).expand(-1, members, -1), True
    if ids.dim() == 3:
        if ids.shape[1] != members:
            raise ValueError(f"per-member input has {ids.shape[1]} members, the bank has {members}")
        return ids, False
    raise ValueError(f"expected token ids (B, L) or (B, K, L), got {tuple(ids.shape)}")


class BankEmbedding(BankModule):
    """K independent embedding tables ``weight (K, V, D)``.

    ``forward(ids)`` maps ``(B, L)`` or ``(B, K, L)`` ids to ``(B, K, L, D)`` (zero at padding);
    :meth:`bag_mean` returns the mean over non-padding tokens ``(B, K, D)`` without building
    the ``(B, K, L, D)`` tensor (an embedding bag).

    Args:
        init_std: member rows are drawn from N(0, init_std²) (``nn.Embedding``'s default is 1;
            transformers use ≈ 0.02).
    """

    def __init__(self, num_embeddings: int, dim: int, *, members: int, pad_id: int = 0,
                 init_std: float = 1.0):
        super().__init__()
        if not 0 <= pad_id < num_embeddings:
            raise ValueError(f"pad_id {pad_id} outside a vocabulary of {num_embeddings}")
        self.members, self.num_embeddings, self.dim = members, num_embeddings, dim
        self.pad_id, self.init_std = pad_id, float(init_std)
        self.weight = nn.Parameter(torch.empty(members, num_embeddings, dim))

    def init_member(self, k: int, generator: torch.Generator) -> None:
        sample = torch.randn(self.num_embeddings, self.dim, generator=generator) * self.init_std
        sample[self.pad_id] = 0.0
        with torch.no_grad():
            self.weight[k].copy_(sample)

    def _flat_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, K, L) ids → ids into the flattened (K·V, D) table."""
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_embeddings):
            raise ValueError(f"token id outside the vocabulary [0, {self.num_embeddings})")
        offsets = torch.arange(self.members, device=ids.device) * self.num_embeddings
        return ids + offsets.view(1, -1, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids, _ = member_ids(ids, self.members)
        table = self.weight.reshape(-1, self.dim)  # (K*V, D)
        out = F.embedding(self._flat_ids(ids), table)  # (B, K, L, D)
        return out * (ids != self.pad_id).unsqueeze(-1).to(out.dtype)

    def bag_mean(self, ids: torch.Tensor) -> torch.Tensor:
        """Mean embedding of the non-padding tokens ``(B, K, D)``; zero for an empty sequence."""
        ids, _ = member_ids(ids, self.members)
        b, k, length = ids.shape
        keep = (ids != self.pad_id).to(self.weight.dtype)  # (B, K, L)
        weights = keep / keep.sum(-1, keepdim=True).clamp_min(1.0)
        bags = F.embedding_bag(self._flat_ids(ids).reshape(b * k, length),
                               self.weight.reshape(-1, self.dim), mode="sum",
                               per_sample_weights=weights.reshape(b * k, length))
        return bags.view(b, k, self.dim)

    def extra_repr(self) -> str:
        return (f"{self.num_embeddings}, {self.dim}, members={self.members}, "
                f"pad_id={self.pad_id}")
