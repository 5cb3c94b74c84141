"""``resnet18`` / ``resnet50``: banked ResNets (He et al. 2016, "Deep Residual Learning for Image
Recognition"), in the CIFAR form that reaches ~95 % on CIFAR-10 (docs/theory.md §9).

Four stages of residual blocks at widths ``w, 2w, 4w, 8w`` (``w = width``, 64 in the paper;
smaller for tests and CPU runs) with strides 1, 2, 2, 2; basic blocks (two 3×3 convs,
ResNet-18: 2-2-2-2) or bottleneck blocks (1×1, 3×3, 1×1 with 4× expansion, ResNet-50: 3-4-6-3;
the stride sits on the 3×3 conv as in "ResNet v1.5"); projection shortcuts (1×1 conv + BN)
where the shape changes; global average pooling to ``8w`` (basic) or ``32w`` (bottleneck)
features; a linear head.

The stem depends on the image size (``stem="auto"``):

- ``"conv3"`` — 3×3 conv, stride 1, no pooling: the CIFAR stem for 32 px (and smaller) images;
- ``"conv3_s2"`` — 3×3 conv, stride 2: the default for 64 px (Tiny-ImageNet), so the stages run
  at 32, 16, 8, 4 px, the cost of a CIFAR ResNet;
- ``"patch2"`` / ``"patch4"`` — a k×k, stride-k "patchify" conv (k = 2 or 4): cheaper still,
  4×4 on 64 px gives 16 px maps;
- ``"imagenet"`` — 7×7 conv, stride 2, then 3×3 max-pool, stride 2: the paper's ImageNet stem,
  the default above 64 px.

Every convolution is a :class:`BankConv2d` (the stem reads the shared input once, the rest are
grouped with ``groups=K``) and every BatchNorm keeps per-member statistics, so member k is the
standalone ResNet built with ``seeds[k]``.
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
from .layers import BankBatchNorm2d, BankConv2d, BankLinear, InputNormalize

STEMS = ("auto", "conv3", "conv3_s2", "patch2", "patch4", "imagenet")


class _Shortcut(nn.Module):
    """Projection shortcut: 1×1 conv (stride s) + BatchNorm, per member."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, *, members: int):
        super().__init__()
        self.conv = BankConv2d(in_ch, out_ch, 1, stride=stride, bias=False, members=members)
        self.bn = BankBatchNorm2d(out_ch, members=members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class BasicBlock(nn.Module):
    """Two 3×3 conv–BN layers and a residual connection:
    ``(B, K*in, H, W) → (B, K*ch, H/s, W/s)``."""

    expansion = 1

    def __init__(self, in_ch: int, ch: int, stride: int, *, members: int):
        super().__init__()
        k = members
        self.conv1 = BankConv2d(in_ch, ch, 3, stride=stride, padding=1, bias=False, members=k)
        self.bn1 = BankBatchNorm2d(ch, members=k)
        self.conv2 = BankConv2d(ch, ch, 3, padding=1, bias=False, members=k)
        self.bn2 = BankBatchNorm2d(ch, members=k)
        needs_proj = stride != 1 or in_ch != ch
        self.shortcut = _Shortcut(in_ch, ch, stride, members=k) if needs_proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (stride s), 1×1 expand (×4), each with BN; residual connection."""

    expansion = 4

    def __init__(self, in_ch: int, ch: int, stride: int, *, members: int):
        super().__init__()
        k, out_ch = members, ch * self.expansion
        self.conv1 = BankConv2d(in_ch, ch, 1, bias=False, members=k)
        self.bn1 = BankBatchNorm2d(ch, members=k)
        self.conv2 = BankConv2d(ch, ch, 3, stride=stride, padding=1, bias=False, members=k)
        self.bn2 = BankBatchNorm2d(ch, members=k)
        self.conv3 = BankConv2d(ch, out_ch, 1, bias=False, members=k)
        self.bn3 = BankBatchNorm2d(out_ch, members=k)
        needs_proj = stride != 1 or in_ch != out_ch
        self.shortcut = _Shortcut(in_ch, out_ch, stride, members=k) if needs_proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def resolve_stem(stem: str, image_size: int) -> str:
    """``"auto"`` → ``conv3`` (≤ 32 px), ``conv3_s2`` (≤ 64 px) or ``imagenet``."""
    if stem not in STEMS:
        raise ConfigError(f"unknown resnet stem {stem!r}; known: {', '.join(STEMS)}")
    if stem != "auto":
        return stem
    return "conv3" if image_size <= 32 else "conv3_s2" if image_size <= 64 else "imagenet"


class BankResNet(BankModel):
    """A bank of K ResNets; logits ``(B, K, num_classes)``, features ``(B, K, 8w·expansion)``.

    Args:
        block: ``"basic"`` or ``"bottleneck"``; layers: blocks per stage.
        width: channels of the first stage (64 in the paper).
        stem: see the module docstring.
        arch: the name reported as ``family``.
        Others as :class:`tempcheck.models.cnn.BankCNN`.
    """

    family = "resnet"

    def __init__(
        self, *, num_classes: int, in_channels: int, image_size: int, members: int = 1,
        seeds: Sequence[int] | None = None, head_init_scale: float = 1.0, mean=None, std=None,
        block: str = "basic", layers: Sequence[int] = (2, 2, 2, 2), width: int = 64,
        stem: str = "auto", arch: str = "resnet",
    ) -> None:
        super().__init__(members=members, num_classes=num_classes)
        if block not in _BLOCKS:
            raise ConfigError(f"unknown resnet block {block!r}; known: {', '.join(_BLOCKS)}")
        if int(width) < 1 or not layers or any(int(n) < 1 for n in layers):
            raise ConfigError(f"resnet width and layers must be positive, got {width}, {layers}")
        self.family = arch
        mean, std = normalize_stats(in_channels, mean, std)
        self.normalize = InputNormalize(mean, std)
        self.stem_kind = resolve_stem(stem, image_size)
        kernel, stride, padding = {
            "conv3": (3, 1, 1), "conv3_s2": (3, 2, 1), "patch2": (2, 2, 0),
            "patch4": (4, 4, 0), "imagenet": (7, 2, 3),
        }[self.stem_kind]
        width = int(width)
        self.stem = BankConv2d(
            in_channels, width, kernel, stride=stride, padding=padding, bias=False,
            members=members, shared_input=True,
        )
        self.stem_bn = BankBatchNorm2d(width, members=members)
        cls = _BLOCKS[block]
        stages, in_ch = [], width
        for i, n in enumerate(layers):
            ch = width * 2**i
            blocks = []
            for j in range(int(n)):
                blocks.append(cls(in_ch, ch, 2 if (i > 0 and j == 0) else 1, members=members))
                in_ch = ch * cls.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.feature_dim = in_ch
        self.head = BankLinear(in_ch, num_classes, members=members, init_scale=head_init_scale)
        self.reset_parameters(list(seeds) if seeds is not None else list(range(members)))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        x4, shared = self.split_input(self.normalize(x))
        h = F.relu(self.stem_bn(first_conv(self.stem, x4, shared)))  # (B, K*w, H', W')
        if self.stem_kind == "imagenet":
            h = F.max_pool2d(h, 3, 2, 1)
        h = self.stages(h)  # (B, K*D, h, w)
        feats = member_pool(h, self.members)  # (B, K, D)
        logits = self.head(feats)  # (B, K, num_classes)
        return (feats, logits) if return_features else logits


resnet18 = partial(BankResNet, block="basic", layers=(2, 2, 2, 2), arch="resnet18")
resnet50 = partial(BankResNet, block="bottleneck", layers=(3, 4, 6, 3), arch="resnet50")
