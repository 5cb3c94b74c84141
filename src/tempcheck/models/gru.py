"""``gru``: a banked GRU text classifier (Cho et al. 2014; PyTorch's ``nn.GRU`` equations).

    r = σ(x W_ir + b_ir + h W_hr + b_hr)
    z = σ(x W_iz + b_iz + h W_hz + b_hz)
    n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h

Banking: member k owns ``w_ih[k] (D_in, 3H)``, ``w_hh[k] (H, 3H)`` and biases ``(3H,)`` (gate
order r, z, n as in ``nn.GRU``, whose weights are the transposes). The input projections of all
time steps and members are one batched matmul; the recurrence is one ``baddbmm`` over the K
members per time step, so K GRUs cost one sequential loop over L, not K.

Padding: sequences are right-padded; at padding positions the state is carried over unchanged,
so the final state is the state after each sequence's last real token (what a packed
``nn.GRU`` returns). Features are that final state (``pool="last"``) or the mean of the states
over the real tokens (``pool="mean"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from .base import BankModel
from .layers import BankDropout, BankLinear, BankModule, _uniform_
from .text_layers import BankEmbedding, member_ids

POOLS = ("last", "mean")


class BankGRULayer(BankModule):
    """One GRU layer for K members: ``(B, K, L, D_in)`` and a mask ``(B, K, L)`` →
    (states ``(B, K, L, H)`` if ``keep_states``, final state ``(B, K, H)``, sum of the states
    over real tokens ``(B, K, H)`` if ``sum_states``). Init as ``nn.GRU``: U(−1/√H, 1/√H) for
    every weight and bias."""

    def __init__(self, input_size: int, hidden_size: int, *, members: int):
        super().__init__()
        self.members, self.input_size, self.hidden_size = members, input_size, hidden_size
        self.w_ih = nn.Parameter(torch.empty(members, input_size, 3 * hidden_size))
        self.w_hh = nn.Parameter(torch.empty(members, hidden_size, 3 * hidden_size))
        self.b_ih = nn.Parameter(torch.empty(members, 3 * hidden_size))
        self.b_hh = nn.Parameter(torch.empty(members, 3 * hidden_size))

    def init_member(self, k: int, generator: torch.Generator) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.w_ih, self.w_hh, self.b_ih, self.b_hh):
            _uniform_(p[k], bound, generator)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, keep_states: bool = False,
                sum_states: bool = True):
        b, k, length, d = x.shape
        hdim = self.hidden_size
        # input projections of every step at once: (K, B*L, D) @ (K, D, 3H)
        gi = torch.baddbmm(self.b_ih.unsqueeze(1), x.transpose(0, 1).reshape(k, b * length, d),
                           self.w_ih)
        # unbind, not gi[t]: indexing a step would make autograd build a full-size zero
        # gradient of gi per step (quadratic in L); unbind's backward stacks them once
        gi = gi.view(k, b, length, 3 * hdim).permute(2, 0, 1, 3).contiguous().unbind(0)
        keep = mask.permute(2, 1, 0).unsqueeze(-1).unbind(0)  # L × (K, B, 1)
        h = x.new_zeros(k, b, hdim)
        total = x.new_zeros(k, b, hdim) if sum_states else None
        states = []
        for gi_t, keep_t in zip(gi, keep):  # few, fused ops per step: the loop is the cost
            gh = torch.baddbmm(self.b_hh.unsqueeze(1), h, self.w_hh)  # (K, B, 3H)
            r, z = torch.sigmoid(gi_t[..., : 2 * hdim] + gh[..., : 2 * hdim]).chunk(2, dim=-1)
            n = torch.tanh(torch.addcmul(gi_t[..., 2 * hdim :], r, gh[..., 2 * hdim :]))
            h = torch.where(keep_t, torch.lerp(n, h, z), h)  # (1 − z)·n + z·h; padding keeps h
            if sum_states:
                total = total + h * keep_t
            if keep_states:
                states.append(h)
        out = torch.stack(states, dim=2).transpose(0, 1) if keep_states else None  # (B,K,L,H)
        return out, h.transpose(0, 1), None if total is None else total.transpose(0, 1)


class BankGRU(BankModel):
    """A bank of K GRU classifiers; ids ``(B, L)`` or ``(B, K, L)`` → logits ``(B, K, C)``,
    features ``(B, K, hidden_size)``.

    Args:
        num_classes, vocab_size, max_len, pad_id: from the dataset (``max_len`` is unused: the
            recurrence runs over the input's length).
        members, seeds, head_init_scale: as every family.
        embed_dim, hidden_size, num_layers: embedding width, state width, stacked layers.
        pool: ``"last"`` (final state) or ``"mean"`` (mean state over real tokens).
        dropout: on the embeddings, between layers and on the features (per-member masks).
    """

    family = "gru"

    def __init__(
        self, *, num_classes: int, vocab_size: int, max_len: int = 0, pad_id: int = 0,
        members: int = 1, seeds: Sequence[int] | None = None, head_init_scale: float = 1.0,
        embed_dim: int = 128, hidden_size: int = 128, num_layers: int = 1, pool: str = "last",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(members=members, num_classes=num_classes)
        if pool not in POOLS:
            raise ConfigError(f"unknown gru pool {pool!r}; known: {', '.join(POOLS)}")
        if num_layers < 1 or hidden_size < 1 or embed_dim < 1:
            raise ConfigError("gru embed_dim, hidden_size and num_layers must be >= 1")
        self.pool, self.pad_id = pool, pad_id
        self.embed = BankEmbedding(vocab_size, embed_dim, members=members, pad_id=pad_id)
        sizes = [embed_dim] + [hidden_size] * num_layers
        self.layers = nn.ModuleList(
            BankGRULayer(a, hidden_size, members=members) for a in sizes[:-1]
        )
        self.dropout = BankDropout(dropout, members=members)
        self.feature_dim = hidden_size
        self.head = BankLinear(hidden_size, num_classes, members=members,
                               init_scale=head_init_scale)
        self.reset_parameters(list(seeds) if seeds is not None else list(range(members)))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        ids, _ = member_ids(x, self.members)
        mask = ids != self.pad_id  # (B, K, L)
        h = self.dropout(self.embed(ids))  # (B, K, L, D)
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            states, final, total = layer(h, mask, keep_states=not last,
                                         sum_states=last and self.pool == "mean")
            if not last:
                h = self.dropout(states)
        if self.pool == "last":
            feats = final
        else:
            feats = total / mask.sum(-1, keepdim=True).clamp_min(1).to(total.dtype)
        feats = self.dropout(feats)  # (B, K, H)
        logits = self.head(feats)  # (B, K, num_classes)
        return (feats, logits) if return_features else logits
