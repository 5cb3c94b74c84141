"""Procedural frost textures, the stand-in for the original generators' frost photos, with the
photos' measured brightness distributions (``fidelity.py``)."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .fidelity import FROST_PHOTO_QUANTILES, FROST_QUANTILE_LEVELS
from .filters import _gauss
from .params import _FROST_PHOTOS, _FROST_RESIZE
from .plasma import _plasma


def _frost_canvas(profile: int, index: int, min_h: int, min_w: int) -> torch.Tensor:
    """Procedural stand-in for frost photo ``index`` (0..4) resized as the original resizes it
    (x0.2 / x0.3 / x1, at least ``min_h x min_w``): ``(3, H, W)`` float32 in [0, 1], fixed
    (seeded by the index, not by the corruption seed)."""
    scale = _FROST_RESIZE[profile]
    ph, pw = _FROST_PHOTOS[index]
    h, w = max(round(ph * scale), min_h), max(round(pw * scale), min_w)
    return _frost_texture(h, w, scale, index)


@functools.lru_cache(maxsize=32)
def _frost_texture(h: int, w: int, scale: float, index: int) -> torch.Tensor:
    """Frosted glass: a cloudy haze (plasma fractal), feathery ice dendrites (random arms with
    side branches at +-60 degrees, as water ice branches) and fine grain, then given photo
    ``index``'s brightness distribution per channel (``_match_brightness``).
    ``scale`` is canvas pixels per photo pixel (0.2 for CIFAR, as the photos are resized)."""
    g = torch.Generator().manual_seed(2019 + index)
    size = 1 << max(1, math.ceil(math.log2(max(h, w))))
    haze = _plasma(1, size, 1.8, g, torch.device("cpu"), torch.float64)[0, :h, :w].float()
    crystals = _dendrites(h, w, scale, g)
    grain = torch.randn(1, 1, h, w, generator=g)
    grain = _gauss(grain, max(0.5, 1.5 * scale))[0, 0]
    grain = grain / grain.std().clamp_min(1e-6)
    # unclamped: only the order of the values matters below, and clamping would create ties
    level = 0.3 * haze + 0.75 * crystals * (0.5 + 0.5 * haze) + 0.04 * grain
    return _match_brightness(level, FROST_PHOTO_QUANTILES[index])


def _match_brightness(level: torch.Tensor, quantiles) -> torch.Tensor:
    """Histogram matching: the pixel of ``level (H, W)`` at cumulative fraction u (its rank)
    gets, in channel c, the photo's grey level at u, interpolated linearly between the
    recorded ``quantiles[c]`` (at ``FROST_QUANTILE_LEVELS``). The texture keeps its shapes
    and takes the photo's per-channel brightness distribution, hence its mean and spread and
    the strength of the blend. Returns ``(3, H, W)`` float32 in [0, 1]."""
    flat = level.flatten()
    n = flat.numel()
    u = np.empty(n)
    u[torch.argsort(flat, stable=True).numpy()] = (np.arange(n) + 0.5) / n
    planes = [np.interp(u, FROST_QUANTILE_LEVELS, np.asarray(q, dtype=np.float64)) / 255
              for q in quantiles]
    return torch.from_numpy(np.stack(planes)).float().view(3, *level.shape)


def _dendrites(h: int, w: int, scale: float, g: torch.Generator) -> torch.Tensor:
    """Rasterised ice dendrites in [0, 1): arms 25-110 photo px long with side branches every
    ~7 px, splatted bilinearly and saturated."""
    n_arms = int(h * w / (scale * scale) / 1500) + 4
    r = torch.rand(n_arms, 5, generator=g, dtype=torch.float64)
    x0, y0 = r[:, 0] * w, r[:, 1] * h
    angle = r[:, 2] * 2 * math.pi
    length = (25 + 85 * r[:, 3]) * scale
    bright = 0.4 + 0.6 * r[:, 4]
    spacing = 7 * scale
    m = int(math.ceil(float(length.max()) / spacing))
    t = spacing * torch.arange(1, m + 1, dtype=torch.float64).view(1, m)
    keep = t < length.view(-1, 1)
    side = torch.rand(n_arms, m, 2, generator=g, dtype=torch.float64)
    sign = torch.where(torch.arange(m) % 2 == 0, 1.0, -1.0).view(1, m)
    b_angle = angle.view(-1, 1) + sign * (math.pi / 3 + 0.2 * (side[..., 0] - 0.5))
    b_len = (length.view(-1, 1) - t) * (0.2 + 0.35 * side[..., 1])
    seg_x = torch.cat([x0, (x0.view(-1, 1) + t * torch.cos(angle).view(-1, 1))[keep]])
    seg_y = torch.cat([y0, (y0.view(-1, 1) + t * torch.sin(angle).view(-1, 1))[keep]])
    seg_a = torch.cat([angle, b_angle[keep]])
    seg_l = torch.cat([length, b_len[keep]])
    seg_b = torch.cat([bright, (0.8 * bright.view(-1, 1)).expand(-1, m)[keep]])
    step = 0.4
    counts = (seg_l / step).ceil().long().clamp(min=1)
    owner = torch.repeat_interleave(torch.arange(len(counts)), counts)
    first = torch.cumsum(counts, 0) - counts
    along = (torch.arange(int(counts.sum())) - first[owner]).double() * step
    px = seg_x[owner] + along * torch.cos(seg_a[owner])
    py = seg_y[owner] + along * torch.sin(seg_a[owner])
    fade = 1 - 0.6 * along / seg_l[owner].clamp_min(1e-9)
    mass = seg_b[owner] * fade * step * min(1.0, 3.0 * scale)
    acc = _splat(px, py, mass, h, w)
    acc = _gauss(acc.view(1, 1, h, w), max(0.5, 0.9 * scale))[0, 0]
    return (1 - torch.exp(-3.0 * acc)).float()


def _splat(px: torch.Tensor, py: torch.Tensor, mass: torch.Tensor, h: int, w: int):
    """Bilinear splatting of point masses into an ``(h, w)`` float64 image."""
    acc = torch.zeros(h * w, dtype=torch.float64)
    x0, y0 = px.floor(), py.floor()
    fx, fy = px - x0, py - y0
    for oy, ox, wt in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)),
                       (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = (x0 + ox).long(), (y0 + oy).long()
        ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        acc.index_put_((yi[ok] * w + xi[ok],), (mass * wt)[ok], accumulate=True)
    return acc.view(h, w)
