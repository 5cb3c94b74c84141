"""``wrn28_10`` / ``wrn16_4``: banked wide residual networks (Zagoruyko & Komodakis 2016,
"Wide Residual Networks").

WRN-d-k: a 3×3 conv to ``base_width`` (16) channels, then three groups of ``n = (d − 4) / 6``
pre-activation basic blocks at widths ``16k, 32k, 64k`` (strides 1, 2, 2), a final BN–ReLU,
global average pooling to ``64k`` features and a linear head. A block is
``BN–ReLU–conv3×3(s)–BN–ReLU–[dropout]–conv3×3`` plus the identity, or — where the shape
changes — a 1×1 conv (stride s) of the *pre-activated* input, as in the authors' code. Dropout
between the convolutions (the paper's 0.3 for some results) is optional; its masks are drawn
independently per member and element (:class:`BankDropout`).

All convolutions are banked (the first reads the shared input once, the rest are grouped) and
BatchNorm statistics are per member.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import BankModel, normalize_stats
from .blocks import first_conv, member_pool
from .layers import BankBatchNorm2d, BankConv2d, BankDropout, BankLinear, InputNormalize


class WideBlock(nn.Module):
    """Pre-activation basic block ``(B, K*in, H, W) → (B, K*out, H/s, W/s)``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, *, members: int, dropout: float):
        super().__init__()
        k = members
        self.bn1 = BankBatchNorm2d(in_ch, members=k)
        self.conv1 = BankConv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False, members=k)
        self.bn2 = BankBatchNorm2d(out_ch, members=k)
        self.dropout = BankDropout(dropout, members=k) if dropout > 0 else None
        self.conv2 = BankConv2d(out_ch, out_ch, 3, padding=1, bias=False, members=k)
        needs_proj = stride != 1 or in_ch != out_ch
        self.shortcut = (
            BankConv2d(in_ch, out_ch, 1, stride=stride, bias=False, members=k)
            if needs_proj else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = F.relu(self.bn1(x))
        y = F.relu(self.bn2(self.conv1(o1)))
        if self.dropout is not None:
            y = self.dropout(y)
        y = self.conv2(y)
        return y + (x if self.shortcut is None else self.shortcut(o1))


class BankWideResNet(BankModel):
    """A bank of K WRN-``depth``-``widen_factor``; logits ``(B, K, C)``, features
    ``(B, K, 4·base_width·widen_factor)``.

    Args:
        depth: total depth d, with (d − 4) divisible by 6 (28, 16, 40 …).
        widen_factor: k, the width multiplier of the three groups.
        dropout: dropout probability between a block's convolutions (0 disables it).
        base_width: channels of the first conv; the groups have 1×, 2×, 4× base_width·k
            (16 in the paper; smaller for tests).
        arch: the name reported as ``family``.
        Others as :class:`tempcheck.models.cnn.BankCNN`.
    """

    family = "wide_resnet"

    def __init__(
        self, *, num_classes: int, in_channels: int, image_size: int, members: int = 1,
        seeds: Sequence[int] | None = None, head_init_scale: float = 1.0, mean=None, std=None,
        depth: int = 28, widen_factor: int = 10, dropout: float = 0.0, base_width: int = 16,
        arch: str = "wide_resnet",
    ) -> None:
        super().__init__(members=members, num_classes=num_classes)
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ConfigError(f"wide resnet depth must be 6n + 4 with n >= 1, got {depth}")
        if widen_factor < 1 or base_width < 1 or not 0.0 <= dropout < 1.0:
            raise ConfigError(
                f"bad wide resnet options widen_factor={widen_factor}, base_width={base_width}, "
                f"dropout={dropout}"
            )
        self.family = arch
        mean, std = normalize_stats(in_channels, mean, std)
        self.normalize = InputNormalize(mean, std)
        n = (depth - 4) // 6
        widths = [base_width * widen_factor * m for m in (1, 2, 4)]
        self.stem = BankConv2d(
            in_channels, base_width, 3, padding=1, bias=False, members=members,
            shared_input=True,
        )
        blocks, in_ch = [], base_width
        for g, out_ch in enumerate(widths):
            for j in range(n):
                stride = 2 if (g > 0 and j == 0) else 1
                blocks.append(
                    WideBlock(in_ch, out_ch, stride, members=members, dropout=float(dropout))
                )
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.final_bn = BankBatchNorm2d(in_ch, members=members)
        self.feature_dim = in_ch
        self.head = BankLinear(in_ch, num_classes, members=members, init_scale=head_init_scale)
        self.reset_parameters(list(seeds) if seeds is not None else list(range(members)))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        x4, shared = self.split_input(self.normalize(x))
        h = self.blocks(first_conv(self.stem, x4, shared))  # (B, K*64k, H/4, W/4)
        h = F.relu(self.final_bn(h))
        feats = member_pool(h, self.members)  # (B, K, D)
        logits = self.head(feats)  # (B, K, num_classes)
        return (feats, logits) if return_features else logits


wrn28_10 = partial(BankWideResNet, depth=28, widen_factor=10, arch="wrn28_10")
wrn16_4 = partial(BankWideResNet, depth=16, widen_factor=4, arch="wrn16_4")
