"""Digital corruptions: contrast, elastic transform, pixelate, JPEG and the extra saturate.
Each is ``f(x, parameter, job) -> y`` on ``(N, C, H, W)`` in [0, 1]."""

from __future__ import annotations

import functools
import io

import numpy as np
import torch
import torch.nn.functional as F

from .filters import _cols, _gauss, _rows


def _contrast(x, c, job):
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean) * c + mean


def _elastic_transform(x, p, job):
    alpha, sigma, jitter = (v * job.rel for v in p)
    n, c, h, w = x.shape
    shift = (job.rand(n, 3, 2, dtype=torch.float64).cpu() * 2 - 1) * jitter
    noise = job.rand(2, n, h, w) * 2 - 1  # the dx field first, then dy
    x = _affine_warp(x, shift)
    if alpha == 0:
        return x
    return _displace(x, alpha * _gauss(noise, sigma, truncate=3.0, mode="symmetric"))


def _affine_warp(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``warpAffine`` by the affine map taking the triangle P around the centre to P + shift
    (``shift (N, 3, 2)``, (x, y) order): bilinear, BORDER_REFLECT_101."""
    n, c, h, w = x.shape
    cx, cy, s = w // 2, h // 2, min(h, w) // 3
    src = torch.tensor([[cx + s, cy + s], [cx + s, cy - s], [cx - s, cy - s]], dtype=torch.float64)
    dst = src + shift
    # warpAffine samples the input at M^-1 p, the map dst -> src: [dst 1] @ T = src
    ones = torch.ones(n, 3, 1, dtype=torch.float64)
    inv = torch.linalg.solve(torch.cat([dst, ones], 2), src.expand(n, 3, 2))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).view(1, h * w, 3)
    pos = (pts @ inv).view(n, h, w, 2)  # (x, y) input positions
    grid = torch.stack([2 * pos[..., 0] / max(w - 1, 1) - 1, 2 * pos[..., 1] / max(h - 1, 1) - 1],
                       -1)
    # align_corners=True reflection = reflection about the edge pixel centres (REFLECT_101)
    return F.grid_sample(x, grid.to(x.device, x.dtype), mode="bilinear",
                         padding_mode="reflection", align_corners=True)


def _displace(x: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """``map_coordinates(order=1, mode='reflect')`` at ``(row + dy, col + dx)``; ``field`` is
    ``(2, N, H, W)`` = (dx, dy) in pixels."""
    n, c, h, w = x.shape
    dev, dt = x.device, x.dtype
    gx = (2 * (torch.arange(w, device=dev, dtype=dt) + field[0]) + 1) / w - 1
    gy = (2 * (torch.arange(h, device=dev, dtype=dt).view(h, 1) + field[1]) + 1) / h - 1
    # align_corners=False reflection = scipy's half-sample symmetric 'reflect'
    return F.grid_sample(x, torch.stack([gx, gy], -1), mode="bilinear",
                         padding_mode="reflection", align_corners=False)


_PIL_BITS = 22  # Pillow Resample.c PRECISION_BITS for 8-bit images


@functools.lru_cache(maxsize=128)
def _pil_box_matrix(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's BOX resampling coefficients ``(out, in)`` as 22-bit fixed-point integers (
    box support 0.5 * max(scale, 1); a pixel counts when ``-0.5 < offset <= 0.5``)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    m = np.zeros((out_size, in_size))
    for o in range(out_size):
        centre = (o + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), in_size)
        taps = [(i, 1.0 if -0.5 < (i - centre + 0.5) / filterscale <= 0.5 else 0.0)
                for i in range(lo, hi)]
        total = sum(wt for _, wt in taps)
        for i, wt in taps:
            if total:
                m[o, i] = int(0.5 + wt / total * (1 << _PIL_BITS))
    return m


def _pil_pass(v: torch.Tensor, m: np.ndarray, axis: int) -> torch.Tensor:
    """One fixed-point Pillow pass along ``axis`` (-1 horizontal, -2 vertical) on 0..255
    integer values held in float64 (exact), rounding as Pillow does."""
    mt = torch.from_numpy(m).to(v.device)
    out = _cols(mt, v) if axis == -1 else _rows(mt, v)
    return torch.floor((out + (1 << (_PIL_BITS - 1))) / (1 << _PIL_BITS)).clamp(0, 255)


def _pixelate(x, c, job):
    h, w = x.shape[-2:]
    sh, sw = max(1, int(h * c)), max(1, int(w * c))
    v = torch.round(x.double() * 255)  # the original resizes the 8-bit PIL image
    v = _pil_pass(v, _pil_box_matrix(w, sw), -1)
    v = _pil_pass(v, _pil_box_matrix(h, sh), -2)
    v = _pil_pass(v, _pil_box_matrix(sw, w), -1)
    v = _pil_pass(v, _pil_box_matrix(sh, h), -2)
    return (v / 255).to(x.dtype)


def _jpeg_compression(x, quality, job):
    from PIL import Image

    n, c, h, w = x.shape
    data = torch.round(x.clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(data)
    mode = "RGB" if c == 3 else "L"
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(data[i] if c == 3 else data[i, :, :, 0], mode).save(
            buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        img = np.asarray(Image.open(buf).convert(mode))
        out[i] = img if c == 3 else img[:, :, None]
    return torch.from_numpy(out).to(x.device).permute(0, 3, 1, 2).to(x.dtype) / 255



def _saturate(x, p, job):
    factor, offset = p
    v = x.amax(dim=1, keepdim=True)
    delta = v - x.amin(dim=1, keepdim=True)
    chroma = delta > 0
    s = torch.where(chroma, delta / v.clamp_min(1e-12), torch.zeros_like(v))
    s2 = (s * factor + offset).clamp(0, 1)
    coloured = v - (v - x) * (s2 / s.clamp_min(1e-12))
    # grey pixels have H = 0 in skimage, so a positive offset tints them red (V, p, p)
    grey = torch.cat([v, v * (1 - s2), v * (1 - s2)], dim=1)
    return torch.where(chroma, coloured, grey)
