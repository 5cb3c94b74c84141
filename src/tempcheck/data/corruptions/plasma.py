"""The diamond-square plasma fractal behind fog and the frost haze."""

from __future__ import annotations

import torch


def _plasma(batch: int, size: int, decay: float, generator: torch.Generator,
            device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Diamond-square plasma fractal ``(batch, size, size)`` in [0, 1], periodic, with
    noise ``w * U(-w, w)`` (w = 100, divided by ``decay`` per level)."""
    a = torch.zeros(batch, size, size, dtype=torch.float64, device=device)
    step, wibble = size, 100.0

    def noise(m: int) -> torch.Tensor:
        u = torch.rand(batch, m, m, generator=generator, device=generator.device,
                       dtype=torch.float64).to(device)
        return wibble * (u * 2 - 1) * wibble

    while step >= 2:
        half, m = step // 2, size // step
        corners = a[:, 0::step, 0::step]
        acc = corners + corners.roll(-1, 1)
        acc = acc + acc.roll(-1, 2)
        a[:, half::step, half::step] = acc / 4 + noise(m)
        centres, corners = a[:, half::step, half::step], a[:, 0::step, 0::step]
        left = centres + centres.roll(1, 1) + corners + corners.roll(-1, 2)
        a[:, 0::step, half::step] = left / 4 + noise(m)
        top = centres + centres.roll(1, 2) + corners + corners.roll(-1, 1)
        a[:, half::step, 0::step] = top / 4 + noise(m)
        step //= 2
        wibble /= decay
    a = a - a.amin(dim=(1, 2), keepdim=True)
    return (a / a.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)).to(dtype)
