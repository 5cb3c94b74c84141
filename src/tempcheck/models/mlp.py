"""``mlp``: a banked multilayer perceptron on flattened inputs.

Shared input ``(B, C, H, W)`` is flattened to ``(B, C·H·W)`` and fed to every member through one
matmul; per-member input ``(B, K, C, H, W)`` becomes ``(B, K, C·H·W)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .base import BankModel, normalize_stats
from .layers import BankLinear, InputNormalize


class BankMLP(BankModel):
    family = "mlp"

    def __init__(
        self, *, num_classes: int, in_channels: int, image_size: int, members: int = 1,
        seeds: Sequence[int] | None = None, hidden: Sequence[int] = (128, 128),
        head_init_scale: float = 1.0, mean=None, std=None,
    ) -> None:
        super().__init__(members=members, num_classes=num_classes)
        mean, std = normalize_stats(in_channels, mean, std)
        self.normalize = InputNormalize(mean, std)
        dims = [in_channels * image_size * image_size, *hidden]
        self.hidden = torch.nn.ModuleList(
            BankLinear(a, b, members=members) for a, b in zip(dims[:-1], dims[1:])
        )
        self.feature_dim = dims[-1]
        self.head = BankLinear(dims[-1], num_classes, members=members, init_scale=head_init_scale)
        self.reset_parameters(list(seeds) if seeds is not None else list(range(members)))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        x = self.normalize(x)
        if x.dim() == 4:
            h = x.flatten(1)  # (B, D_in), shared
        elif x.dim() == 5:
            h = x.flatten(2)  # (B, K, D_in)
        else:
            raise ValueError(f"expected (B, C, H, W) or (B, K, C, H, W), got {tuple(x.shape)}")
        for layer in self.hidden:
            h = F.relu(layer(h))  # (B, K, D)
        logits = self.head(h)  # (B, K, num_classes)
        return (h, logits) if return_features else logits
