"""``cnn``: a small banked convnet for 8×8 (digits) up to 32×32 (CIFAR) inputs.

3×3 conv–BN–ReLU stages (widths ``widths``, three by default), a 2×2 max-pool after every stage
but the last while the image is still larger than 4 px, then global average pooling to a
``widths[-1]``-dimensional feature and a linear head. The first convolution reads the shared
input once for all members (``shared_input``); later ones are grouped with ``groups=K``.

Member chunks (``member_chunk``): on a CPU a bank's activations are K times a member's, and
once a layer's map no longer fits the caches every elementwise pass (BatchNorm, ReLU,
pooling and their gradients) runs at memory speed — a K = 7 bank on 28×28 inputs was 1.3×
slower than 7 separate runs (``bench/profile_bank.py``). The forward pass therefore runs the
members through the convolutional trunk in chunks of at most ``member_chunk`` members and
joins their features before the head. ``"auto"``: on CPU, for inputs of 16×16 and more, the
largest chunk whose first activation map holds at most ``layers.CPU_BANK_FLOATS`` values (one
member at a time on 28×28 at batch 128), and there the maps are kept channels-last (BatchNorm, ReLU and
pooling vectorise over channels); all K members at once, as before, on smaller inputs (the
8×8 digits) and on other devices. A chunk computes exactly what a bank of those members
computes; a chunk of one runs a standalone model's kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import BankModel, normalize_stats
from .layers import CPU_BANK_FLOATS, BankBatchNorm2d, BankConv2d, BankLinear, InputNormalize


class BankCNN(BankModel):
    family = "cnn"

    def __init__(
        self, *, num_classes: int, in_channels: int, image_size: int, members: int = 1,
        seeds: Sequence[int] | None = None, widths: Sequence[int] = (16, 32, 64),
        head_init_scale: float = 1.0, mean=None, std=None, member_chunk: int | str = "auto",
    ) -> None:
        super().__init__(members=members, num_classes=num_classes)
        if member_chunk != "auto" and not (isinstance(member_chunk, int) and member_chunk >= 1):
            raise ValueError(f"member_chunk must be 'auto' or an integer >= 1, got {member_chunk!r}")
        self.member_chunk = member_chunk
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

    @staticmethod
    def _large_cpu_maps(x: torch.Tensor) -> bool:
        return x.device.type == "cpu" and x.shape[-1] * x.shape[-2] >= 256

    def _channels_last_maps(self, x: torch.Tensor) -> bool:
        """Whether the trunk keeps its maps channels-last: large maps on a CPU, outside
        functorch transforms (vmap / jacrev, e.g. the dynamics study's kernels, cannot change
        memory format)."""
        return self._large_cpu_maps(x) and not torch._C._are_functorch_transforms_active()

    def _chunk_size(self, x: torch.Tensor) -> int:
        if self.member_chunk != "auto":
            return min(self.members, int(self.member_chunk))
        if not self._large_cpu_maps(x):
            return self.members
        per_member = x.shape[0] * self.first.out_channels * x.shape[-1] * x.shape[-2]
        return max(1, min(self.members, CPU_BANK_FLOATS // max(1, per_member)))

    def _trunk(self, x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """Features ``(B, n, D)`` of members ``lo .. hi-1``; ``x`` is the normalised shared
        batch ``(B, C, H, W)`` or the per-member batch ``(B, K, C, H, W)``."""
        n = hi - lo
        if x.dim() == 4:
            h = self.first.forward_members(x, lo, hi)  # (B, n*w0, H, W)
        else:  # per-member images: the same weights as a grouped convolution
            xs = x[:, lo:hi].reshape(x.shape[0], n * x.shape[2], *x.shape[3:])
            w = self.first.weight[lo:hi].reshape(-1, *self.first.weight.shape[2:])
            h = F.conv2d(xs, w, None, 1, 1, 1, n)
        if self._channels_last_maps(x):
            h = h.contiguous(memory_format=torch.channels_last)
        h = self._relu_pool(self.norms[0].forward_members(h, lo, hi), self.pool_after[0])
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms[1:]), start=1):
            h = self._relu_pool(norm.forward_members(conv.forward_members(h, lo, hi), lo, hi),
                                self.pool_after[i])
        return h.mean(dim=(2, 3)).view(h.shape[0], n, -1)  # (B, n, D)

    def _channels_last_input(self, x: torch.Tensor) -> torch.Tensor:
        """A 1-channel shared batch on large CPU maps, viewed with channels-last strides (the
        same memory): the first convolution then writes its map channels-last at once instead
        of the trunk converting it afterwards: the same values and gradients (tested) with one copy
        of the largest map less, about 12% of a K = 1 step at 28×28 on the 2-core reference CPU."""
        if x.dim() != 4 or x.shape[1] != 1 or not self._channels_last_maps(x):
            return x
        b, _, h, w = x.shape
        return x.reshape(b, h, w, 1).permute(0, 3, 1, 2)

    @staticmethod
    def _relu_pool(h: torch.Tensor, pool: bool) -> torch.Tensor:
        """ReLU then 2×2 max-pool, computed as pool then ReLU: the same values and the same
        gradients (max commutes with the monotone ReLU, and both pick the window's first
        maximum), with the ReLU and its backward on a quarter of the map."""
        return F.relu(F.max_pool2d(h, 2)) if pool else F.relu(h)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        self.split_input(x)  # validates the input's shape
        x = self.normalize(x)
        size = self._chunk_size(x)
        x = self._channels_last_input(x)
        chunks = [self._trunk(x, lo, min(lo + size, self.members))
                  for lo in range(0, self.members, size)]
        feats = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)  # (B, K, D)
        logits = self.head(feats)  # (B, K, num_classes)
        return (feats, logits) if return_features else logits
