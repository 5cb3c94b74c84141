"""The per-call context handed to every corruption function with its parameter tuple."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class _Job:
    """What a corruption function needs besides the images and its parameter tuple."""

    profile: int  # table size S0
    k: float  # pixel scale for pixel-sized parameters
    rel: float  # shorter side / S0, for parameters relative to the image size
    generator: torch.Generator
    device: torch.device
    dtype: torch.dtype

    def rand(self, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        g = self.generator
        out = torch.rand(shape, generator=g, device=g.device)
        return out.to(self.device, dtype or self.dtype)

    def randn(self, *shape: int) -> torch.Tensor:
        g = self.generator
        return torch.randn(shape, generator=g, device=g.device).to(self.device, self.dtype)

    def randint(self, low: int, high: int, shape: tuple[int, ...]) -> torch.Tensor:
        g = self.generator
        return torch.randint(low, high, shape, generator=g, device=g.device).to(self.device)

    def layer_shape(self, h: int, w: int) -> tuple[int, int]:
        """Size at which a random layer with a spatial grain is drawn (then resized)."""
        if self.k == 1.0:
            return h, w
        return max(2, round(h / self.k)), max(2, round(w / self.k))
