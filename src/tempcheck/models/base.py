"""The bank model contract every family implements.

A ``BankModel`` holds K members. ``forward(x)`` returns logits ``(B, K, num_classes)``;
``forward(x, return_features=True)`` returns ``(features (B, K, D), logits)``. Images are in
[0, 1]; ``x`` is ``(B, C, H, W)`` (one batch shared by all members) or ``(B, K, C, H, W)`` (one
input per member, e.g. adversarial examples). Text models take token ids instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .layers import BankConv2d, BankModule, check_conv_mode


class BankModel(nn.Module):
    """Base class: per-member seeded init, member extraction, input-shape dispatch."""

    family: str = "bank"

    def __init__(self, *, members: int, num_classes: int):
        super().__init__()
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        self.members = members
        self.num_classes = num_classes

    # -- initialisation -------------------------------------------------------------------
    def reset_parameters(self, seeds: Sequence[int]) -> None:
        """Draw member k's parameters from a generator seeded with ``seeds[k]``, layer by layer
        in module order, so member k equals a standalone K = 1 model built with that seed."""
        if len(seeds) != self.members:
            raise ValueError(f"need {self.members} seeds, got {len(seeds)}")
        layers = [m for m in self.modules() if isinstance(m, BankModule)]
        for k, seed in enumerate(seeds):
            generator = torch.Generator().manual_seed(int(seed))
            for layer in layers:
                layer.init_member(k, generator)

    def set_conv_mode(self, mode: str) -> BankModel:
        """Run every banked convolution in ``mode`` (``layers.CONV_MODES``: "auto", "grouped"
        or "loop"); returns the model. The result is the same up to float rounding."""
        check_conv_mode(mode)
        for layer in self.modules():
            if isinstance(layer, BankConv2d):
                layer.conv_mode = mode
        return self

    # -- input handling ---------------------------------------------------------------------
    def split_input(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """Return ``(x4, shared)``: a 4-d image batch and whether it is shared by all members.

        ``(B, C, H, W)`` is shared; ``(B, K, C, H, W)`` becomes ``(B, K*C, H, W)``."""
        if x.dim() == 4:
            return x, True
        if x.dim() == 5:
            if x.shape[1] != self.members:
                raise ValueError(
                    f"per-member input has {x.shape[1]} members, the bank has {self.members}"
                )
            b, k, c, h, w = x.shape
            return x.reshape(b, k * c, h, w), False
        raise ValueError(f"expected (B, C, H, W) or (B, K, C, H, W) input, got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, return_features: bool = False):  # pragma: no cover
        raise NotImplementedError

    # -- members ----------------------------------------------------------------------------
    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """The state dict of member k alone, loadable into the same family with members=1."""
        state = {}
        for name, t in self.state_dict().items():
            if t.dim() >= 1 and t.shape[0] == self.members:
                state[name] = t[k : k + 1].clone()
            else:
                state[name] = t.clone()
        return state


def normalize_stats(in_channels: int, mean=None, std=None) -> tuple[tuple, tuple]:
    """Default per-channel normalisation constants for images in [0, 1]."""
    mean = tuple(mean) if mean is not None else (0.5,) * in_channels
    std = tuple(std) if std is not None else (0.25,) * in_channels
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError("mean/std must have one entry per input channel")
    return mean, std
