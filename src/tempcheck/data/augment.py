"""Batched, seeded image augmentations on the data's own device.

Every function takes a batch ``(B, C, H, W)`` (float or uint8, any memory format) and a
``torch.Generator`` and returns a batch of the same shape and dtype. Random draws happen on the
generator's device (the loader's CPU ``epoch_generator``) and only the per-sample offsets and
masks — B numbers — are moved to the data, so the images never leave their device and the
result depends on the seed alone, not on the device. One augmentation is drawn per sample and
shared by all members of a bank (it is part of the data order, DESIGN.md).

Policies (:func:`make_augment`):

- ``"none"``: identity.
- ``"crop_flip"``: random crop of the ``padding``-padded image back to H × W, then a horizontal
  flip with probability 1/2 — the standard CIFAR recipe (He et al. 2016, §4.2: "4 pixels are
  padded on each side, and a 32 × 32 crop is randomly sampled from the padded image or its
  horizontal flip").
- ``"crop_flip_cutout"``: the above, then Cutout (DeVries & Taylor 2017): a ``cutout`` × ``cutout``
  square at a uniformly drawn centre (clipped at the borders) is set to 0.

Draw order for one call: crop offsets ``(B, 2)``, flip coins ``(B,)``, cutout centres ``(B, 2)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import ConfigError

POLICIES = ("none", "crop_flip", "crop_flip_cutout")
PAD_MODES = ("zero", "reflect")

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _randint(high: int, shape: tuple[int, ...], generator: torch.Generator, device) -> torch.Tensor:
    draw = torch.randint(0, high, shape, generator=generator, device=generator.device)
    return draw.to(device)


def _source_index(offsets: torch.Tensor, size: int, padding: int, mode: str):
    """Source rows (or columns) ``(B, size)`` of a crop starting at ``offsets`` in the padded
    image, and a validity mask (False where the crop reads the zero padding)."""
    idx = offsets[:, None] + torch.arange(size, device=offsets.device) - padding  # (B, size)
    valid = (idx >= 0) & (idx < size)
    if mode == "reflect":  # reflect without repeating the edge, as F.pad(mode="reflect")
        idx = idx.abs()
        idx = torch.where(idx >= size, 2 * (size - 1) - idx, idx)
        valid = torch.ones_like(valid)
    return idx.clamp_(0, size - 1), valid


def random_crop(
    x: torch.Tensor, generator: torch.Generator, *, padding: int = 4, mode: str = "zero"
) -> torch.Tensor:
    """Crop each image of ``x`` at its own random offset from the image padded by ``padding``
    pixels (``"zero"`` or ``"reflect"``). Equivalent to padding then slicing ``[dy:dy+H,
    dx:dx+W]`` with ``dy, dx`` uniform in ``[0, 2·padding]``, computed by two gathers without
    materialising the padded batch or looping over samples."""
    if padding == 0:
        return x
    if mode not in PAD_MODES:
        raise ConfigError(f"unknown padding mode {mode!r}; known: {', '.join(PAD_MODES)}")
    b, c, h, w = x.shape
    if mode == "reflect" and padding >= min(h, w):
        raise ConfigError(f"reflect padding {padding} needs images larger than {padding} px")
    offsets = _randint(2 * padding + 1, (b, 2), generator, x.device)
    rows, rows_ok = _source_index(offsets[:, 0], h, padding, mode)  # (B, H)
    cols, cols_ok = _source_index(offsets[:, 1], w, padding, mode)  # (B, W)
    out = x.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, w))
    out = out.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))
    if mode == "zero":
        inside = rows_ok[:, :, None] & cols_ok[:, None, :]  # (B, H, W)
        out = out.masked_fill(~inside[:, None], 0)
    return out


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    coin = torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5
    return torch.where(coin.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)


def random_cutout(x: torch.Tensor, generator: torch.Generator, *, size: int = 8) -> torch.Tensor:
    """Zero a ``size`` × ``size`` square per image, centred at a uniform pixel and clipped at the
    borders (DeVries & Taylor 2017)."""
    if size <= 0:
        return x
    b, _, h, w = x.shape
    centre = torch.stack(
        [_randint(h, (b,), generator, x.device), _randint(w, (b,), generator, x.device)], dim=1
    )
    top = centre[:, 0:1] - size // 2  # (B, 1)
    left = centre[:, 1:2] - size // 2
    r = torch.arange(h, device=x.device)
    col = torch.arange(w, device=x.device)
    in_rows = (r >= top) & (r < top + size)  # (B, H)
    in_cols = (col >= left) & (col < left + size)  # (B, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (B, H, W)
    return x.masked_fill(hole[:, None], 0)


def make_augment(
    policy: str, *, image_size: int, padding: int = 4, cutout: int = 8, pad_mode: str = "zero"
) -> Augment:
    """The augmentation ``f(x, generator) -> x`` for ``policy`` (module docstring).

    ``image_size`` is used to check the options (a crop padding or cutout larger than the
    image is a ConfigError); ``"none"`` returns the input unchanged."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown augment policy {policy!r}; known: {', '.join(POLICIES)}")
    if padding < 0 or cutout < 0:
        raise ConfigError(f"augment padding and cutout must be >= 0, got {padding}, {cutout}")
    if padding > image_size or cutout > image_size:
        raise ConfigError(
            f"augment padding {padding} / cutout {cutout} exceed the image size {image_size}"
        )
    if pad_mode not in PAD_MODES:
        raise ConfigError(f"unknown padding mode {pad_mode!r}; known: {', '.join(PAD_MODES)}")

    def identity(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x

    def crop_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_crop(x, generator, padding=padding, mode=pad_mode)
        x = random_flip(x, generator)
        if policy == "crop_flip_cutout":
            x = random_cutout(x, generator, size=cutout)
        return x

    return identity if policy == "none" else crop_flip
