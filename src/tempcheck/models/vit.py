"""``vit_small``: a banked vision transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16
Words"), pre-norm, sized like ViT-S / DeiT-S by default (dim 384, depth 12, 6 heads, MLP ×4).

The image is cut into ``patch_size`` × ``patch_size`` patches (default ``image_size // 8``:
4 px on 32 px CIFAR, 8 px on 64 px Tiny-ImageNet — 64 tokens either way), linearly embedded by a
stride-``patch_size`` convolution that reads the shared input once for all members, prefixed
with a class token (``pool="cls"``; ``pool="mean"`` averages the tokens instead), added to a
learned position embedding, and passed through ``depth`` blocks
``x + Attn(LN(x))``, ``x + MLP(LN(x))`` (GELU). A final LayerNorm gives the features
``(B, K, dim)`` (the class token, or the token mean) and a linear head the logits.

Banking: tokens travel as ``(B, K, N, D)``; every linear map is one einsum over all members
(:class:`BankTokenLinear`), every LayerNorm has per-member affine parameters
(:class:`BankLayerNorm`), and attention — which has no parameters — is one
``scaled_dot_product_attention`` call over the flattened ``(B·K, heads, N, d_head)`` batch, so it
runs as a fused kernel on a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import BankModel, normalize_stats
from .blocks import first_conv
from .layers import BankConv2d, BankLayerNorm, BankLinear, InputNormalize
from .token_layers import BankTokenLinear, BankTokens

POOLS = ("cls", "mean")
_LN_EPS = 1e-6  # the ViT paper's LayerNorm epsilon


class BankAttention(nn.Module):
    """Multi-head self-attention on ``(B, K, N, D)`` with per-member projections."""

    def __init__(self, dim: int, heads: int, *, members: int):
        super().__init__()
        self.heads = heads
        self.qkv = BankTokenLinear(dim, 3 * dim, members=members)
        self.proj = BankTokenLinear(dim, dim, members=members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, k, n, d = x.shape
        dh = d // self.heads
        qkv = self.qkv(x).reshape(b, k, n, 3, self.heads, dh)
        # (3, B, K, H, N, dh) -> three (B*K, H, N, dh): members are just more batch here
        q, key, v = qkv.permute(3, 0, 1, 4, 2, 5).reshape(3, b * k, self.heads, n, dh).unbind(0)
        out = F.scaled_dot_product_attention(q, key, v)  # (B*K, H, N, dh)
        out = out.reshape(b, k, self.heads, n, dh).transpose(2, 3).reshape(b, k, n, d)
        return self.proj(out)


class ViTBlock(nn.Module):
    """Pre-norm transformer block on ``(B, K, N, D)``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, *, members: int):
        super().__init__()
        hidden = int(round(dim * mlp_ratio))
        self.norm1 = BankLayerNorm(dim, members=members, eps=_LN_EPS)
        self.attn = BankAttention(dim, heads, members=members)
        self.norm2 = BankLayerNorm(dim, members=members, eps=_LN_EPS)
        self.fc1 = BankTokenLinear(dim, hidden, members=members)
        self.fc2 = BankTokenLinear(hidden, dim, members=members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class BankViT(BankModel):
    """A bank of K vision transformers; logits ``(B, K, C)``, features ``(B, K, dim)``.

    Args:
        patch_size: patch side; default ``max(1, image_size // 8)``; must divide image_size.
        dim, depth, heads, mlp_ratio: width, number of blocks, attention heads (dividing dim),
            MLP hidden width as a multiple of dim.
        pool: ``"cls"`` (class token) or ``"mean"`` (mean of the tokens).
        arch: the name reported as ``family``.
        Others as :class:`tempcheck.models.cnn.BankCNN`.
    """

    family = "vit"

    def __init__(
        self, *, num_classes: int, in_channels: int, image_size: int, members: int = 1,
        seeds: Sequence[int] | None = None, head_init_scale: float = 1.0, mean=None, std=None,
        patch_size: int | None = None, dim: int = 384, depth: int = 12, heads: int = 6,
        mlp_ratio: float = 4.0, pool: str = "cls", arch: str = "vit",
    ) -> None:
        super().__init__(members=members, num_classes=num_classes)
        patch = int(patch_size) if patch_size is not None else max(1, image_size // 8)
        if patch < 1 or image_size % patch != 0:
            raise ConfigError(f"vit patch_size {patch} must divide the image size {image_size}")
        if dim < 1 or heads < 1 or dim % heads != 0 or depth < 1 or mlp_ratio <= 0:
            raise ConfigError(
                f"bad vit options dim={dim}, heads={heads} (must divide dim), depth={depth}, "
                f"mlp_ratio={mlp_ratio}"
            )
        if pool not in POOLS:
            raise ConfigError(f"unknown vit pool {pool!r}; known: {', '.join(POOLS)}")
        self.family, self.pool, self.patch_size, self.dim = arch, pool, patch, dim
        mean, std = normalize_stats(in_channels, mean, std)
        self.normalize = InputNormalize(mean, std)
        self.patch_embed = BankConv2d(
            in_channels, dim, patch, stride=patch, members=members, shared_input=True
        )
        n_tokens = (image_size // patch) ** 2 + (1 if pool == "cls" else 0)
        self.cls_token = BankTokens(1, dim, members=members) if pool == "cls" else None
        self.pos_embed = BankTokens(n_tokens, dim, members=members)
        self.blocks = nn.Sequential(
            *(ViTBlock(dim, heads, mlp_ratio, members=members) for _ in range(depth))
        )
        self.norm = BankLayerNorm(dim, members=members, eps=_LN_EPS)
        self.feature_dim = dim
        self.head = BankLinear(dim, num_classes, members=members, init_scale=head_init_scale)
        self.reset_parameters(list(seeds) if seeds is not None else list(range(members)))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        x4, shared = self.split_input(self.normalize(x))
        t = first_conv(self.patch_embed, x4, shared)  # (B, K*D, g, g)
        b = t.shape[0]
        t = t.reshape(b, self.members, self.dim, -1).transpose(2, 3)  # (B, K, N, D)
        if self.cls_token is not None:
            cls = self.cls_token().unsqueeze(0).expand(b, -1, -1, -1)  # (B, K, 1, D)
            t = torch.cat([cls.to(t.dtype), t], dim=2)
        t = self.norm(self.blocks(t + self.pos_embed()))  # (B, K, N', D)
        feats = t[:, :, 0] if self.pool == "cls" else t.mean(dim=2)  # (B, K, D)
        logits = self.head(feats)  # (B, K, num_classes)
        return (feats, logits) if return_features else logits


vit_small = partial(BankViT, dim=384, depth=12, heads=6, mlp_ratio=4.0, arch="vit_small")
