"""``bow``: a banked bag-of-words classifier (fastText-like; Joulin et al. 2017).

Each member averages its token embeddings over the non-padding tokens of a review (an embedding
bag, ``BankEmbedding.bag_mean``), then applies ``hidden`` ReLU layers and a linear head. Word
order is ignored, which makes it the fastest text baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import BankModel
from .layers import BankDropout, BankLinear
from .text_layers import BankEmbedding


class BankBoW(BankModel):
    """A bank of K bag-of-words models; ids ``(B, L)`` or ``(B, K, L)`` → logits ``(B, K, C)``,
    features ``(B, K, D)`` (the last hidden layer, or the mean embedding when ``hidden=()``).

    Args:
        num_classes, vocab_size, max_len, pad_id: from the dataset (``max_len`` is unused).
        members, seeds: K and one init seed per member.
        head_init_scale: scales the head's init (the initial logit norm, docs/theory.md §3).
        embed_dim: embedding width D.
        hidden: widths of the ReLU layers between the bag and the head.
        dropout: dropout on the bag and hidden activations (per-member masks).
    """

    family = "bow"

    def __init__(
        self, *, num_classes: int, vocab_size: int, max_len: int = 0, pad_id: int = 0,
        members: int = 1, seeds: Sequence[int] | None = None, head_init_scale: float = 1.0,
        embed_dim: int = 128, hidden: Sequence[int] = (128,), dropout: float = 0.0,
    ) -> None:
        super().__init__(members=members, num_classes=num_classes)
        self.embed = BankEmbedding(vocab_size, embed_dim, members=members, pad_id=pad_id)
        dims = [embed_dim, *hidden]
        self.hidden = nn.ModuleList(
            BankLinear(a, b, members=members) for a, b in zip(dims[:-1], dims[1:])
        )
        self.dropout = BankDropout(dropout, members=members)
        self.feature_dim = dims[-1]
        self.head = BankLinear(dims[-1], num_classes, members=members, init_scale=head_init_scale)
        self.reset_parameters(list(seeds) if seeds is not None else list(range(members)))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.dropout(self.embed.bag_mean(x))  # (B, K, D)
        for layer in self.hidden:
            h = self.dropout(F.relu(layer(h)))
        logits = self.head(h)  # (B, K, num_classes)
        return (h, logits) if return_features else logits
