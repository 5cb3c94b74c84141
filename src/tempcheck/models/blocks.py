"""Pieces shared by the convolutional families (resnet, wide_resnet, vit's patch embedding).

- :func:`first_conv` applies a shared-input :class:`BankConv2d` to either input form: a shared
  batch ``(B, C, H, W)`` goes through one dense convolution producing all K members' channels;
  a per-member batch (flattened to ``(B, K*C, H, W)`` by ``BankModel.split_input``) goes through
  the same weights as a grouped convolution, so member k sees only its own images.
- :func:`member_pool` turns a member-major map ``(B, K*D, H, W)`` into features ``(B, K, D)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .layers import BankConv2d


def first_conv(conv: BankConv2d, x4: torch.Tensor, shared: bool) -> torch.Tensor:
    """``(B, C, H, W)`` shared or ``(B, K*C, H, W)`` per member → ``(B, K*out, H', W')``."""
    if shared:
        return conv(x4)
    w = conv.weight.reshape(-1, *conv.weight.shape[2:])  # (K*out, in, kh, kw)
    b = conv.bias.reshape(-1) if conv.bias is not None else None
    return F.conv2d(x4, w, b, conv.stride, conv.padding, 1, conv.members)


def member_pool(h: torch.Tensor, members: int) -> torch.Tensor:
    """Global average pool ``(B, K*D, H, W)`` → ``(B, K, D)`` (any memory format)."""
    return h.mean(dim=(2, 3)).reshape(h.shape[0], members, -1)
