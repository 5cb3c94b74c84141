"""Weather corruptions: snow, frost, fog, brightness and the extra spatter. Each is
``f(x, parameter, job) -> y`` on ``(N, C, H, W)`` in [0, 1]. The procedural frost textures are
in ``frost.py``; ``_plasma`` (the fog map) is shared with them."""

from __future__ import annotations

import math

import numpy as np
import torch

from .blur import _motion, _zoom
from .filters import (
    _box3,
    _canny,
    _colour,
    _edge_distance,
    _equalize_hist,
    _filter2d,
    _floor8,
    _gauss,
    _luma,
    _resize,
    _round8,
)
from .frost import _frost_canvas
from .plasma import _plasma


def _snow(x, p, job):
    mean, std, zoom, threshold, radius, sigma, blend = p
    n, c, h, w = x.shape
    lh, lw = job.layer_shape(h, w)
    layer = mean + std * job.randn(n, 1, lh, lw)
    layer = _zoom(layer, zoom, min(lh, lw) >= job.profile)
    layer = _floor8(torch.where(layer < threshold, torch.zeros_like(layer), layer))
    angle = job.rand(n, dtype=torch.float64).cpu().numpy() * 90.0 - 135.0
    layer = _resize(_round8(_motion(layer, radius, sigma, angle)), h, w)
    x = blend * x + (1 - blend) * torch.maximum(x, _luma(x) * 1.5 + 0.5)
    return x + layer + layer.flip(-1, -2)


def _frost(x, p, job):
    a, b = p
    n, c, h, w = x.shape
    lh, lw = job.layer_shape(h, w)
    canvases = [_frost_canvas(job.profile, i, lh, lw) for i in range(5)]
    which = job.randint(0, 5, (n,)).cpu().tolist()
    u = job.rand(n, 2, dtype=torch.float64).cpu()
    overlay = torch.empty(n, 3, lh, lw)
    for j, i in enumerate(which):
        canvas = canvases[i]
        # randint(0, span) from one uniform per axis; a plain slice copy per image (an
        # advanced-index gather of every crop is ~20x slower at 224 px)
        top = max(0, math.floor(float(u[j, 0]) * max(1, canvas.shape[1] - lh)))
        left = max(0, math.floor(float(u[j, 1]) * max(1, canvas.shape[2] - lw)))
        overlay[j] = canvas[:, top : top + lh, left : left + lw]
    overlay = _resize(overlay.to(x.device, x.dtype), h, w)
    return a * x + b * (_luma(overlay) if c == 1 else overlay)


def _fog(x, p, job):
    strength, decay = p
    n, c, h, w = x.shape
    size = 1 << max(1, math.ceil(math.log2(max(h, w))))
    fog = _plasma(n, size, decay, job.generator, x.device, x.dtype)[:, None, :h, :w]
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x + strength * fog) * peak / (peak + strength)


def _brightness(x, c, job):
    # HSV: V' = clip(V + c); for V > 0 every channel scales by V'/V, black becomes (c, c, c)
    v = x.amax(dim=1, keepdim=True)
    v2 = (v + c).clamp(max=1.0)
    return torch.where(v > 0, x * (v2 / v.clamp_min(1e-12)), v2.expand_as(x))



_EMBOSS = np.array([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])
_WATER = (175 / 255, 238 / 255, 238 / 255)  # pale turquoise, added in RGB array order
_MUD = (63 / 255, 42 / 255, 20 / 255)


def _spatter(x, p, job):
    mean, std, sigma, threshold, strength, mode = p
    n, c, h, w = x.shape
    lh, lw = job.layer_shape(h, w)
    layer = _gauss(mean + std * job.randn(n, 1, lh, lw), sigma)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    if mode == 0:
        return x + _resize(_water_mask(layer, strength), h, w) * _colour(_WATER, c, x)
    mud = _gauss((layer > threshold).to(x.dtype), strength)
    mud = _resize(torch.where(mud < 0.8, torch.zeros_like(mud), mud), h, w)
    return x * (1 - mud) + mud * _colour(_MUD, c, x)


def _water_mask(layer: torch.Tensor, strength: float) -> torch.Tensor:
    """The water-drop intensity ``m (N, 1, H, W)`` of spatter mode 0 (water): Canny edges of the
    layer, distance to them, equalised and embossed, times the layer, normalised to its peak."""
    l8 = torch.floor(layer * 255).clamp(0, 255)
    dist = _edge_distance(_canny(l8, 50, 150), cap=20)
    dist = torch.floor(_box3(dist) + 1e-4)  # blur on float, then astype(uint8)
    dist = _equalize_hist(dist)
    dist = _filter2d(dist, _EMBOSS, "reflect101").clamp(0, 255)
    dist = torch.round(_box3(dist))  # cv2.blur on uint8 rounds
    m = l8 * dist
    peak = m.amax(dim=(2, 3), keepdim=True)
    return torch.where(peak > 0, m / peak.clamp_min(1e-12), torch.zeros_like(m)) * strength
