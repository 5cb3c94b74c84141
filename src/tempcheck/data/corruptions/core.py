"""The entry points: ``corrupt`` (one batch), ``iter_corrupted`` (a large set in seeded
chunks) and ``quantize_uint8``; the table from each corruption name to its function."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from ...errors import ConfigError, DataError
from .blur import _defocus_blur, _gaussian_blur, _glass_blur, _motion_blur, _zoom_blur
from .digital import _contrast, _elastic_transform, _jpeg_compression, _pixelate, _saturate
from .job import _Job
from .noise import _gaussian_noise, _impulse_noise, _shot_noise, _speckle_noise
from .params import (
    _P,
    CHUNK_SIZE,
    MIN_SIZE,
    _check_name,
    _check_profile,
    _check_severity,
    derive_seed,
    profile_for,
    supported,
)
from .weather import _brightness, _fog, _frost, _snow, _spatter

_FUNCS = {
    "gaussian_noise": _gaussian_noise, "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise, "defocus_blur": _defocus_blur,
    "glass_blur": _glass_blur, "motion_blur": _motion_blur, "zoom_blur": _zoom_blur,
    "snow": _snow, "frost": _frost, "fog": _fog, "brightness": _brightness,
    "contrast": _contrast, "elastic_transform": _elastic_transform, "pixelate": _pixelate,
    "jpeg_compression": _jpeg_compression, "speckle_noise": _speckle_noise,
    "gaussian_blur": _gaussian_blur, "spatter": _spatter, "saturate": _saturate,
}


def corrupt(
    images: torch.Tensor, name: str, severity: int, *, seed: int = 0,
    generator: torch.Generator | None = None, profile: int | None = None,
    pixel_scale: float | None = None,
) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1..5) to a batch.

    Args:
        images: ``(N, C, H, W)`` in [0, 1] (floating) or uint8, C in {1, 3}, H, W >= 8.
        seed: seeds a fresh CPU generator when ``generator`` is None.
        generator: used (and advanced) as is; draws happen on its device.
        profile: parameter table (32, 64, 224); default :func:`profile_for`.
        pixel_scale: multiplier of pixel-sized parameters; default max(1, side / profile).

    Returns:
        ``(N, C, H, W)`` of the input dtype and device, in [0, 1] (uint8: ``floor(255 y)``).
    """
    _check_name(name)
    severity = _check_severity(severity)
    x, dtype = _as_working(images)
    n, c, h, w = x.shape
    if not supported(name, c):
        raise DataError(f"corruption {name} needs colour (3-channel) images, got {c} channel(s)")
    prof = _check_profile(profile) if profile is not None else profile_for(h, w)
    rel = min(h, w) / prof
    k = max(1.0, rel) if pixel_scale is None else float(pixel_scale)
    if not math.isfinite(k) or k <= 0:
        raise ConfigError(f"pixel_scale must be finite and > 0, got {pixel_scale!r}")
    if n == 0:
        return images.clone()
    gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    job = _Job(prof, k, rel, gen, x.device, x.dtype)
    y = _FUNCS[name](x, _P[name][prof][severity - 1], job).clamp(0.0, 1.0)
    if dtype == torch.uint8:
        return quantize_uint8(y)
    return y.to(dtype)


def iter_corrupted(
    images: torch.Tensor, name: str, severity: int, *, seed: int = 0,
    chunk_size: int = CHUNK_SIZE, device: torch.device | str | None = None,
    profile: int | None = None, pixel_scale: float | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, corrupted chunk)`` over ``images`` in chunks of ``chunk_size``; chunk i
    is seeded with ``derive_seed(seed, name, severity, i)``. Chunks are float32 on ``device``
    (default: the images' device)."""
    n = images.shape[0]
    for i, lo in enumerate(range(0, n, chunk_size)):
        chunk = images[lo : lo + chunk_size].to(device or images.device)
        if chunk.dtype == torch.uint8:
            chunk = chunk.float().div_(255.0)
        yield lo, corrupt(
            chunk.float(), name, severity, seed=derive_seed(seed, name, severity, i),
            profile=profile, pixel_scale=pixel_scale,
        )


def quantize_uint8(y: torch.Tensor) -> torch.Tensor:
    """``floor(255 y)`` as uint8, the truncation the released datasets use (the generators
    cast float images to uint8); a 1e-3 margin absorbs float32 error on values that are exact
    multiples of 1/255."""
    return torch.floor(y.float().clamp(0, 1) * 255.0 + 1e-3).clamp_(0, 255).to(torch.uint8)


def _as_working(images: torch.Tensor) -> tuple[torch.Tensor, torch.dtype]:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
        raise DataError(f"corruptions take (N, C, H, W) image tensors, got {shape}")
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise DataError(f"corruptions need 1 or 3 channels, got {c}")
    if min(h, w) < MIN_SIZE:
        raise DataError(f"corruptions need images of at least {MIN_SIZE} px, got {h}x{w}")
    dtype = images.dtype
    if dtype == torch.uint8:
        return images.float().div(255.0), dtype
    if not dtype.is_floating_point:
        raise DataError(f"corruptions take float images in [0, 1] or uint8, got {dtype}")
    work = torch.float64 if dtype == torch.float64 else torch.float32
    return images.to(work).clamp(0.0, 1.0), dtype
