"""Blur corruptions: defocus, glass, motion, zoom and the extra gaussian blur. Each is
``f(x, parameter, job) -> y`` on ``(N, C, H, W)`` in [0, 1]; ``_motion`` is shared with snow."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .filters import _conv_matrix, _filter2d, _floor8, _gauss, _pad, _round8, _sep, _tensor
from .job import _Job


def _gaussian_blur(x, sigma, job):
    return _gauss(x, sigma * job.k)


@functools.lru_cache(maxsize=64)
def _disk_kernel(radius: float, alias_sigma: float) -> np.ndarray:
    """A binary disk on a 17x17 grid (radius <= 8) smoothed by OpenCV GaussianBlur (3x3,
    REFLECT_101; 5x5 above radius 8), cropped to its support."""
    half, ksize = (8, 3) if radius <= 8 else (math.ceil(radius), 5)
    t = np.arange(-half, half + 1)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius**2).astype(np.float64)
    disk /= disk.sum()
    g = np.exp(-((np.arange(ksize) - (ksize - 1) / 2) ** 2) / (2 * alias_sigma**2))
    g /= g.sum()
    mat = _conv_matrix(2 * half + 1, np.arange(ksize) - ksize // 2, g, "reflect101")
    kernel = mat @ disk @ mat.T
    support = np.argwhere(np.abs(kernel) > 1e-10) - half
    r = int(np.abs(support).max()) if support.size else 0
    return kernel[half - r : half + r + 1, half - r : half + r + 1]


def _defocus_blur(x, p, job):
    radius, alias = p
    return _filter2d(x, _disk_kernel(radius * job.k, alias * job.k), "reflect101")


def _glass_blur(x, p, job):
    sigma, d, iterations = p
    sigma, d = sigma * job.k, max(1, round(d * job.k))
    a = _floor8(_gauss(x, sigma))  # the original truncates to uint8 before shuffling
    for _ in range(iterations):
        a = _glass_shuffle(a, d, job)
    return _gauss(a, sigma)


def _glass_shuffle(a: torch.Tensor, d: int, job: _Job) -> torch.Tensor:
    """One pass of the original's pixel "swap", which is really a one-way copy
    ``a[h, w] <- a[h + dy, w + dx]`` with dy, dx ~ randint(-d, d), visiting h = H-d..d+1 and
    w = W-d..d+1 in descending order, as the original's loops do."""
    n, c, h, w = a.shape
    lo, rows_hi, cols_hi = d + 1, h - d, w - d
    nr, nc = rows_hi - lo + 1, cols_hi - lo + 1
    if nr < 1 or nc < 1:
        return a
    if d == 1:
        # offsets in {-1, 0}: every source is visited after its destination, so one pass
        # equals a parallel gather from the unmodified image
        dy, dx = job.randint(-d, d, (2, n, nr, nc))
        r = torch.arange(lo, rows_hi + 1, device=a.device).view(1, nr, 1)
        col = torch.arange(lo, cols_hi + 1, device=a.device).view(1, 1, nc)
        src = torch.arange(h * w, device=a.device).view(1, h, w).repeat(n, 1, 1)
        src[:, lo : rows_hi + 1, lo : cols_hi + 1] = (r + dy) * w + (col + dx)
        flat = a.reshape(n, c, h * w)
        return flat.gather(2, src.view(n, 1, h * w).expand(n, c, h * w)).view(n, c, h, w)
    out = a.clone(memory_format=torch.contiguous_format)
    flat = out.view(n, c, h * w)
    j = torch.arange(nc, device=a.device).view(1, nc)
    col = j + lo
    jumps = max(1, math.ceil(math.log2(max(nc, 2)))) + 1
    for r in range(rows_hi, lo - 1, -1):
        dy, dx = job.randint(-d, d, (2, n, nc))
        src = (r + dy) * w + (col + dx)
        fixed = flat.gather(2, src.unsqueeze(1).expand(n, c, nc))
        # a same-row read to the right lands on an already updated pixel: follow the chain
        link = (dy == 0) & (dx > 0) & (col + dx <= cols_hi)
        ptr = torch.where(link, j + dx, j.expand(n, nc))
        for _ in range(jumps):
            ptr = ptr.gather(1, ptr)
        out[:, :, r, lo : cols_hi + 1] = fixed.gather(2, ptr.unsqueeze(1).expand(n, c, nc))
    return out


def _motion_kernel(radius: float, sigma: float) -> np.ndarray:
    """ImageMagick MotionBlurImage weights: width 2*ceil(R)+1, one-sided Gaussian."""
    width = 2 * math.ceil(radius) + 1 if radius > 0 else 1
    j = np.arange(width)
    k = np.exp(-(j**2) / (2.0 * sigma**2))
    return k / k.sum()


def _motion(x: torch.Tensor, radius: float, sigma: float, angle_deg: np.ndarray):
    """Per-image motion blur: ``out = sum_j k_j in(y + dy_j, x + dx_j)`` with edge clamping,
    ``dx_j = ceil(j cos t - 0.5)``, ``dy_j = ceil(j sin t - 0.5)``; one gather per tap
    from the edge-padded batch (few large ops: many small ones stall CPU threads)."""
    n, c, h, w = x.shape
    weights = _motion_kernel(radius, sigma)
    theta = np.deg2rad(np.asarray(angle_deg, dtype=np.float64))[:, None]
    j = np.arange(len(weights))[None, :]
    dx = np.ceil(j * np.cos(theta) - 0.5).astype(np.int64)  # (n, W)
    dy = np.ceil(j * np.sin(theta) - 0.5).astype(np.int64)
    p = int(max(np.abs(dx).max(), np.abs(dy).max()))
    hp, wp = h + 2 * p, w + 2 * p
    flat = _pad(x, p, p, "replicate").reshape(n, c, hp * wp)
    base = ((torch.arange(h, device=x.device) + p).view(h, 1) * wp
            + torch.arange(w, device=x.device) + p).view(1, h * w)
    shift = torch.from_numpy(dy * wp + dx).to(x.device)  # (n, W) flat offsets
    out = torch.zeros(n, c, h * w, device=x.device, dtype=x.dtype)
    for t, wt in enumerate(weights):
        index = (base + shift[:, t : t + 1]).unsqueeze(1).expand(n, c, h * w)
        out.add_(flat.gather(2, index), alpha=float(wt))
    return out.view(n, c, h, w)


def _motion_blur(x, p, job):
    angle = job.rand(x.shape[0], dtype=torch.float64).cpu().numpy() * 90.0 - 45.0
    return _round8(_motion(x, p[0] * job.k, p[1] * job.k, angle))


@functools.lru_cache(maxsize=512)
def _zoom_matrix(n: int, z: float, exact: bool) -> np.ndarray:
    """``(n, n)`` bilinear centre zoom-in by ``z``. ``exact``: the original ``clipped_zoom``
    (crop ceil(n/z), scipy align-corners zoom to round(ch*z), centre crop); otherwise a
    continuous zoom about the image centre (source = c + (i - c) / z)."""
    m = np.zeros((n, n))
    if exact:
        ch = math.ceil(n / z)
        top = (n - ch) // 2
        size = round(ch * z)
        off = (size - n) // 2
        u = (np.arange(n) + off) * ((ch - 1) / (size - 1) if size > 1 else 0.0) + top
        hi = top + ch - 1
    else:
        centre = (n - 1) / 2
        u = centre + (np.arange(n) - centre) / z
        hi = n - 1
    u = np.clip(u, 0, hi)
    i0 = np.floor(u).astype(np.int64)
    frac = u - i0
    i1 = np.minimum(i0 + 1, hi)
    rows = np.arange(n)
    np.add.at(m, (rows, i0), 1 - frac)
    np.add.at(m, (rows, i1), frac)
    return m


def _zoom(x: torch.Tensor, z: float, exact: bool) -> torch.Tensor:
    h, w = x.shape[-2:]
    return _sep(x, _tensor(_zoom_matrix(h, z, exact), x), _tensor(_zoom_matrix(w, z, exact), x))


def _zoom_blur(x, p, job):
    zooms = np.arange(1, p[0], p[1])  # float arange exactly as the scripts (endpoints matter)
    exact = min(x.shape[-2:]) >= job.profile
    out = x.clone()
    for z in zooms:
        out += _zoom(x, float(z), exact)
    return out / (len(zooms) + 1)
