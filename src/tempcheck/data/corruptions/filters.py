"""Shared image operators: border handling, separable matrices (Gaussian, box), small 2-D
filters, resizing, 8-bit rounding, luma, and the OpenCV ports spatter needs (Canny, Euclidean
edge distance, equalizeHist). Images are ``(N, C, H, W)`` unless a docstring says otherwise."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)


def _border_index(idx: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Map indices outside [0, n) into it: ``replicate`` (aaa|abc|ccc), ``reflect101``
    (cb|abc|ba, OpenCV's default, scipy 'mirror') or ``symmetric`` (ba|abc|cb, scipy
    'reflect'); any distance, by periodic folding."""
    if mode == "replicate":
        return np.clip(idx, 0, n - 1)
    if mode == "reflect101":
        if n == 1:
            return np.zeros_like(idx)
        m = np.mod(idx, 2 * n - 2)
        return np.where(m < n, m, 2 * n - 2 - m)
    if mode == "symmetric":
        m = np.mod(idx, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    raise ValueError(f"unknown border mode {mode!r}")


def _conv_matrix(n: int, offsets: np.ndarray, weights: np.ndarray, mode: str) -> np.ndarray:
    """``(n, n)`` matrix of the 1-D correlation ``out[i] = sum_t w_t in[i + t]`` with the
    border folded in, so a separable filter is two matmuls."""
    m = np.zeros((n, n))
    i = np.arange(n)
    for t, wt in zip(offsets, weights):
        np.add.at(m, (i, _border_index(i + int(t), n, mode)), wt)
    return m


def _gauss_taps(sigma: float, truncate: float) -> tuple[np.ndarray, np.ndarray]:
    """scipy.ndimage.gaussian_filter1d taps: radius int(truncate*sigma + 0.5)."""
    if sigma <= 1e-15:
        return np.zeros(1, dtype=np.int64), np.ones(1)
    r = int(truncate * sigma + 0.5)
    t = np.arange(-r, r + 1)
    w = np.exp(-0.5 * (t / sigma) ** 2)
    return t, w / w.sum()


@functools.lru_cache(maxsize=256)
def _gauss_matrix(n: int, sigma: float, truncate: float, mode: str) -> np.ndarray:
    return _conv_matrix(n, *_gauss_taps(sigma, truncate), mode)


def _tensor(m: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(m).to(like.device, like.dtype)


def _sep(x: torch.Tensor, mh: torch.Tensor, mw: torch.Tensor) -> torch.Tensor:
    """``mh @ x @ mw^T`` on every image plane of ``x (..., H, W)``."""
    return _rows(mh, _cols(mw, x))


def _cols(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``x @ m^T``: ``m (W', W)`` along the last axis, as one GEMM."""
    return torch.matmul(x.reshape(-1, x.shape[-1]), m.t()).view(*x.shape[:-1], m.shape[0])


def _rows(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``m @ x``: ``m (H', H)`` along the second-to-last axis, as one GEMM (a broadcast
    batched matmul is orders of magnitude slower for small planes on CPU)."""
    y = _cols(m, x.transpose(-1, -2))  # (..., W, H')
    return y.transpose(-1, -2).contiguous()


def _gauss(x: torch.Tensor, sigma: float, truncate: float = 4.0, mode: str = "replicate"):
    """Per-channel Gaussian blur (scipy's weights, border ``mode``)."""
    h, w = x.shape[-2:]
    return _sep(x, _tensor(_gauss_matrix(h, sigma, truncate, mode), x),
                _tensor(_gauss_matrix(w, sigma, truncate, mode), x))


def _box3(x: torch.Tensor) -> torch.Tensor:
    """OpenCV ``blur(x, (3, 3))``: normalised 3x3 box, REFLECT_101 border."""
    h, w = x.shape[-2:]
    taps, wts = np.array([-1, 0, 1]), np.full(3, 1 / 3)
    return _sep(x, _tensor(_conv_matrix(h, taps, wts, "reflect101"), x),
                _tensor(_conv_matrix(w, taps, wts, "reflect101"), x))


def _pad(x: torch.Tensor, ph: int, pw: int, mode: str) -> torch.Tensor:
    """Pad the last two dims by (ph, pw) on each side with a border ``mode`` (any size)."""
    h, w = x.shape[-2:]
    ih = torch.from_numpy(_border_index(np.arange(-ph, h + ph), h, mode)).to(x.device)
    iw = torch.from_numpy(_border_index(np.arange(-pw, w + pw), w, mode)).to(x.device)
    return x.index_select(-2, ih).index_select(-1, iw)


def _filter2d(x: torch.Tensor, kernel: np.ndarray, mode: str) -> torch.Tensor:
    """2-D correlation of every plane of ``x (N, C, H, W)`` with an odd ``kernel``."""
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    xp = _pad(x, kh // 2, kw // 2, mode).reshape(1, n * c, h + kh - 1, w + kw - 1)
    weight = _tensor(kernel, x).expand(n * c, 1, kh, kw).contiguous()
    return F.conv2d(xp, weight, groups=n * c).reshape(n, c, h, w)


def _resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Bilinear resize of the last two dims (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == (h, w):
        return x
    shrink = h < x.shape[-2] or w < x.shape[-1]
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=shrink)


def _round8(y: torch.Tensor) -> torch.Tensor:
    return torch.round(y.clamp(0, 1) * 255.0) / 255.0


def _floor8(y: torch.Tensor) -> torch.Tensor:
    return torch.floor(y.clamp(0, 1) * 255.0 + 1e-3) / 255.0


def _luma(x: torch.Tensor) -> torch.Tensor:
    """Rec. 601 grey (OpenCV RGB2GRAY) ``(N, 1, H, W)``; grey input passes through."""
    if x.shape[1] == 1:
        return x
    return _LUMA[0] * x[:, 0:1] + _LUMA[1] * x[:, 1:2] + _LUMA[2] * x[:, 2:3]


def _colour(rgb: tuple[float, float, float], channels: int, like: torch.Tensor):
    """A colour constant as ``(1, C, 1, 1)``; its luma for grey images."""
    values = rgb if channels == 3 else (sum(a * b for a, b in zip(_LUMA, rgb)),)
    return torch.tensor(values, device=like.device, dtype=like.dtype).view(1, channels, 1, 1)



def _canny(img: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """OpenCV Canny (aperture 3, L1 gradient) on 0..255 values ``(N, 1, H, W)`` -> bool edges:
    Sobel with replicated border, non-maximum suppression with OpenCV's tan(22.5)/tan(67.5)
    fixed-point sectors and asymmetric comparisons, hysteresis by iterated 8-neighbour
    dilation inside the weak set."""
    p = _pad(img, 1, 1, "replicate")
    gx = (p[..., :-2, 2:] + 2 * p[..., 1:-1, 2:] + p[..., 2:, 2:]
          - p[..., :-2, :-2] - 2 * p[..., 1:-1, :-2] - p[..., 2:, :-2])
    gy = (p[..., 2:, :-2] + 2 * p[..., 2:, 1:-1] + p[..., 2:, 2:]
          - p[..., :-2, :-2] - 2 * p[..., :-2, 1:-1] - p[..., :-2, 2:])
    mag = gx.abs() + gy.abs()
    mp = F.pad(mag, (1, 1, 1, 1))  # OpenCV pads the magnitude with zeros

    def at(dy: int, dx: int) -> torch.Tensor:
        return mp[..., 1 + dy : mp.shape[-2] - 1 + dy, 1 + dx : mp.shape[-1] - 1 + dx]

    ax, ay = gx.abs().long(), gy.abs().long() << 15  # integer sector tests, as OpenCV
    tg22 = ax * int(0.4142135623730950488 * (1 << 15) + 0.5)
    horizontal = ay < tg22
    vertical = ~horizontal & (ay > tg22 + (ax << 16))
    same_sign = (gx < 0) == (gy < 0)
    diag = torch.where(same_sign, (mag > at(-1, -1)) & (mag > at(1, 1)),
                       (mag > at(-1, 1)) & (mag > at(1, -1)))
    keep = torch.where(horizontal, (mag > at(0, -1)) & (mag >= at(0, 1)),
                       torch.where(vertical, (mag > at(-1, 0)) & (mag >= at(1, 0)), diag))
    weak = keep & (mag > low)
    edges = weak & (mag > high)
    while True:
        grown = weak & (F.max_pool2d(edges.to(img.dtype), 3, 1, 1) > 0)
        if torch.equal(grown, edges):
            return edges
        edges = grown


def _edge_distance(edges: torch.Tensor, cap: float) -> torch.Tensor:
    """Euclidean distance to the nearest edge pixel, capped at ``cap``: exact column distances
    by running max/min of edge rows, then a windowed minimum along rows."""
    n, _, h, w = edges.shape
    dt = torch.float32 if edges.device.type != "cpu" else torch.float64
    rows = torch.arange(h, device=edges.device, dtype=dt).view(1, 1, h, 1)
    big = torch.tensor(1e6, device=edges.device, dtype=dt)
    above = torch.where(edges, rows, -big).cummax(dim=2).values
    below = torch.where(edges, rows, big).flip(2).cummin(dim=2).values.flip(2)
    g2 = torch.minimum(rows - above, below - rows).clamp(max=cap + 1) ** 2
    r = int(min(cap, w - 1))
    padded = F.pad(g2, (r, r), value=float("inf"))
    best = g2
    for o in range(1, r + 1):
        best = torch.minimum(best, padded[..., r + o : r + o + w] + o * o)
        best = torch.minimum(best, padded[..., r - o : r - o + w] + o * o)
    return best.sqrt().clamp(max=cap).float()


def _equalize_hist(img: torch.Tensor) -> torch.Tensor:
    """OpenCV ``equalizeHist`` per image on 0..255 values ``(N, 1, H, W)``."""
    n = img.shape[0]
    flat = img.reshape(n, -1).long()
    total = flat.shape[1]
    hist = torch.zeros(n, 256, device=img.device).scatter_add_(
        1, flat, torch.ones_like(flat, dtype=torch.float32))
    first = (hist > 0).float().argmax(dim=1, keepdim=True)
    h0 = hist.gather(1, first)
    scale = 255.0 / (total - h0).clamp_min(1)
    lut = torch.round((hist.cumsum(1) - h0) * scale)
    lut = torch.where(torch.arange(256, device=img.device) <= first, torch.zeros_like(lut), lut)
    out = lut.gather(1, flat).clamp(0, 255)
    out = torch.where(h0 == total, first.float().expand_as(out), out)  # a constant image
    return out.view_as(img).to(img.dtype)
