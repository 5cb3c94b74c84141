"""``text_transformer``: a small banked transformer encoder for text classification
(Vaswani et al. 2017; pre-norm blocks as in ``vit.py``).

Token embeddings plus learned position embeddings, ``depth`` blocks ``x + Attn(LN(x))``,
``x + MLP(LN(x))`` (GELU), a final LayerNorm, and the mean over the non-padding tokens as the
features ``(B, K, dim)``; a linear head gives the logits.

Banking: tokens travel as ``(B, K, L, D)``; linear maps are one einsum over all members
(:class:`~.token_layers.BankTokenLinear`), LayerNorms have per-member affine parameters
(:class:`~.layers.BankLayerNorm`). Attention has no parameters of its own, so the K members are
just more batch for one ``scaled_dot_product_attention`` call over ``(B·K, heads, L, d_head)``
(a fused kernel on a GPU; an explicit einsum would hold a ``(B, K, heads, L, L)`` score tensor).
Padding keys are masked out of every attention row.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import BankModel
from .layers import BankDropout, BankLayerNorm, BankLinear
from .text_layers import BankEmbedding, member_ids
from .token_layers import VIT_INIT_STD, BankTokenLinear, BankTokens


class MaskedBankAttention(nn.Module):
    """Multi-head self-attention on ``(B, K, L, D)`` with a key mask ``(B, K, L)``."""

    def __init__(self, dim: int, heads: int, *, members: int):
        super().__init__()
        self.heads = heads
        self.qkv = BankTokenLinear(dim, 3 * dim, members=members)
        self.proj = BankTokenLinear(dim, dim, members=members)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, k, n, d = x.shape
        dh = d // self.heads
        qkv = self.qkv(x).reshape(b, k, n, 3, self.heads, dh)
        q, key, v = qkv.permute(3, 0, 1, 4, 2, 5).reshape(3, b * k, self.heads, n, dh).unbind(0)
        allowed = key_mask.reshape(b * k, 1, 1, n)  # True = may be attended to
        out = F.scaled_dot_product_attention(q, key, v, attn_mask=allowed)  # (B*K, H, L, dh)
        out = out.reshape(b, k, self.heads, n, dh).transpose(2, 3).reshape(b, k, n, d)
        return self.proj(out)


class TextBlock(nn.Module):
    """Pre-norm transformer block on ``(B, K, L, D)``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, *, members: int):
        super().__init__()
        hidden = int(round(dim * mlp_ratio))
        self.norm1 = BankLayerNorm(dim, members=members)
        self.attn = MaskedBankAttention(dim, heads, members=members)
        self.norm2 = BankLayerNorm(dim, members=members)
        self.fc1 = BankTokenLinear(dim, hidden, members=members)
        self.fc2 = BankTokenLinear(hidden, dim, members=members)
        self.dropout = BankDropout(dropout, members=members)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.norm1(x), key_mask))
        return x + self.dropout(self.fc2(F.gelu(self.fc1(self.norm2(x)))))


class BankTextTransformer(BankModel):
    """A bank of K transformer encoders; ids ``(B, L)`` or ``(B, K, L)`` (L ≤ ``max_len``) →
    logits ``(B, K, C)``, features ``(B, K, dim)``.

    Args:
        num_classes, vocab_size, max_len, pad_id: from the dataset; ``max_len`` sizes the
            position embedding.
        members, seeds, head_init_scale: as every family.
        dim, depth, heads, mlp_ratio: width, number of blocks, heads (dividing dim), MLP width
            as a multiple of dim.
        dropout: on the embeddings and each residual branch (per-member masks).
    """

    family = "text_transformer"

    def __init__(
        self, *, num_classes: int, vocab_size: int, max_len: int, pad_id: int = 0,
        members: int = 1, seeds: Sequence[int] | None = None, head_init_scale: float = 1.0,
        dim: int = 128, depth: int = 2, heads: int = 4, mlp_ratio: float = 2.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(members=members, num_classes=num_classes)
        if dim < 1 or heads < 1 or dim % heads != 0 or depth < 1 or mlp_ratio <= 0:
            raise ConfigError(f"bad text_transformer options dim={dim}, heads={heads} (must "
                              f"divide dim), depth={depth}, mlp_ratio={mlp_ratio}")
        if max_len < 1:
            raise ConfigError(f"text_transformer needs max_len >= 1, got {max_len}")
        self.pad_id, self.max_len, self.dim = pad_id, max_len, dim
        self.embed = BankEmbedding(vocab_size, dim, members=members, pad_id=pad_id,
                                   init_std=VIT_INIT_STD)
        self.pos_embed = BankTokens(max_len, dim, members=members)
        self.dropout = BankDropout(dropout, members=members)
        self.blocks = nn.ModuleList(
            TextBlock(dim, heads, mlp_ratio, dropout, members=members) for _ in range(depth)
        )
        self.norm = BankLayerNorm(dim, members=members)
        self.feature_dim = dim
        self.head = BankLinear(dim, num_classes, members=members, init_scale=head_init_scale)
        self.reset_parameters(list(seeds) if seeds is not None else list(range(members)))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        ids, _ = member_ids(x, self.members)
        length = ids.shape[-1]
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds the model's max_len "
                             f"{self.max_len}")
        mask = ids != self.pad_id  # (B, K, L)
        # an all-padding sequence would leave its attention rows empty (NaN): let it attend
        key_mask = mask | ~mask.any(dim=-1, keepdim=True)
        t = self.embed(ids) + self.pos_embed()[:, :length].unsqueeze(0)  # (B, K, L, D)
        t = self.dropout(t)
        for block in self.blocks:
            t = block(t, key_mask)
        t = self.norm(t)
        weights = mask.to(t.dtype).unsqueeze(-1)  # (B, K, L, 1)
        feats = (t * weights).sum(2) / weights.sum(2).clamp_min(1.0)  # (B, K, D)
        logits = self.head(feats)  # (B, K, num_classes)
        return (feats, logits) if return_features else logits
