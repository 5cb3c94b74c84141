"""``cnn``: a small banked convnet for 8×8 (digits) up to 32×32 (CIFAR) inputs.

Three 3×3 conv–BN–ReLU stages (widths ``widths``), a 2×2 max-pool after the first two stages
when the image is still larger than 4 px, then global average pooling to a
``widths[-1]``-dimensional feature and a linear head. The first convolution reads the shared
input once for all members (``shared_input``); later ones are grouped with ``groups=K``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import BankModel, normalize_stats
from .layers import BankBatchNorm2d, BankConv2d, BankLinear, InputNormalize


class BankCNN(BankModel):
    family = "cnn"

    def __init__(
        self, *, num_classes: int, in_channels: int, image_size: int, members: int = 1,
        seeds: Sequence[int] | None = None, widths: Sequence[int] = (16, 32, 64),
        head_init_scale: float = 1.0, mean=None, std=None,
    ) -> None:
        super().__init__(members=members, num_classes=num_classes)
        mean, std = normalize_stats(in_channels, mean, std)
        self.normalize = InputNormalize(mean, std)
        self.in_channels = in_channels
        self.first = BankConv2d(
            in_channels, widths[0], 3, padding=1, members=members, bias=False, shared_input=True
        )
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList([BankBatchNorm2d(widths[0], members=members)])
        for a, b in zip(widths[:-1], widths[1:]):
            self.convs.append(BankConv2d(a, b, 3, padding=1, members=members, bias=False))
            self.norms.append(BankBatchNorm2d(b, members=members))
        # pool after a stage while the map is > 4 px, at most after all but the last stage
        self.pool_after, size = [], image_size
        for _ in range(len(widths) - 1):
            pool = size > 4
            self.pool_after.append(pool)
            size = size // 2 if pool else size
        self.pool_after.append(False)
        self.feature_dim = widths[-1]
        self.head = BankLinear(widths[-1], num_classes, members=members, init_scale=head_init_scale)
        self.reset_parameters(list(seeds) if seeds is not None else list(range(members)))

    def _first_conv(self, x: torch.Tensor) -> torch.Tensor:
        x4, shared = self.split_input(x)
        if shared:
            return self.first(x4)
        w = self.first.weight.reshape(-1, *self.first.weight.shape[2:])  # (K*out, in, 3, 3)
        return F.conv2d(x4, w, None, 1, 1, 1, self.members)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self._first_conv(self.normalize(x))  # (B, K*w0, H, W)
        h = F.relu(self.norms[0](h))
        if self.pool_after[0]:
            h = F.max_pool2d(h, 2)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms[1:]), start=1):
            h = F.relu(norm(conv(h)))
            if self.pool_after[i]:
                h = F.max_pool2d(h, 2)
        feats = h.mean(dim=(2, 3)).view(h.shape[0], self.members, -1)  # (B, K, D)
        logits = self.head(feats)  # (B, K, num_classes)
        return (feats, logits) if return_features else logits
