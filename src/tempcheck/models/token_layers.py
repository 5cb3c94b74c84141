"""Banked layers for token sequences ``(B, K, N, D)`` (the vision transformer).

- :class:`BankTokenLinear`: K independent affine maps applied to every token, one einsum over
  all members: ``(B, K, N, in) × (K, in, out) → (B, K, N, out)``.
- :class:`BankTokens`: a learned per-member tensor (class token, position embedding) with a
  leading K axis.

Both draw member k's parameters from member k's generator (layers.py contract), with the
ViT initialisation (Dosovitskiy et al. 2021; timm): weights from a normal of std 0.02
truncated at ±2σ, biases zero.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import BankLinear, BankModule

VIT_INIT_STD = 0.02


def _trunc_normal_(t: torch.Tensor, std: float, generator: torch.Generator) -> None:
    """N(0, std²) truncated at ±2·std by inverse-CDF sampling: one uniform draw per element."""
    # drawn on the CPU (where the generator lives) and copied, so parameters may live anywhere
    edge = math.erf(2.0 / math.sqrt(2.0))  # 2Φ(2) − 1
    sample = torch.rand(t.shape, generator=generator, dtype=torch.float32)
    sample = (sample * 2.0 - 1.0).mul_(edge).erfinv_().mul_(std * math.sqrt(2.0))
    with torch.no_grad():
        t.copy_(sample.clamp_(-2.0 * std, 2.0 * std))


class BankTokenLinear(BankLinear):
    """:class:`BankLinear` that also maps token tensors ``(B, K, N, in) → (B, K, N, out)``;
    initialised ViT-style (truncated normal, std 0.02; zero bias)."""

    def init_member(self, k: int, generator: torch.Generator) -> None:
        _trunc_normal_(self.weight[k], VIT_INIT_STD, generator)
        if self.bias is not None:
            with torch.no_grad():
                self.bias[k].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            return super().forward(x)
        out = torch.einsum("bkni,kio->bkno", x, self.weight)  # (B, K, N, out)
        if self.bias is not None:
            out = out + self.bias[:, None, :]
        return out


class BankTokens(BankModule):
    """A per-member learned tensor of shape ``(K, *shape)``, truncated-normal initialised."""

    def __init__(self, *shape: int, members: int):
        super().__init__()
        self.members = members
        self.value = nn.Parameter(torch.zeros(members, *shape))

    def init_member(self, k: int, generator: torch.Generator) -> None:
        _trunc_normal_(self.value[k], VIT_INIT_STD, generator)

    def forward(self) -> torch.Tensor:
        return self.value
