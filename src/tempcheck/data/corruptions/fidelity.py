"""Measured targets for the corruptions that cannot be compared bit for bit: frost.

The original generators blend a crop of one of five frost photos into the image
(``y = clip(a x + b F)``). tempcheck does not ship those photos: they sit in the original
repository without a statement of where they come from or who took them, so their licence is not
clear enough to redistribute. Instead ``frost.py`` draws procedural frost textures whose
per-channel brightness distribution is the photo's, grey level by grey level (the quantiles
below), so the blend changes an image as much as the original does.

How the numbers were measured (``bench/frost_reference.py --photos DIR`` reproduces them from
the five files ``frost1.png``, ``frost2.png``, ``frost3.png``, ``frost4.jpg``, ``frost5.jpg`` of
``ImageNet-C/create_c/`` in github.com/hendrycks/robustness at commit 8190fe3; frost6.jpg is
listed there but never drawn):

- ``FROST_PHOTO_QUANTILES``: each photo decoded to RGB (alpha dropped, as ``cv2.imread`` does),
  per channel the grey levels (0..255) at the cumulative fractions ``FROST_QUANTILE_LEVELS``,
  at the photo's own size (the ImageNet table). The 0.2x / 0.3x resized copies the CIFAR / Tiny
  tables use have the same means (within 0.002) and standard deviations within 6 %.
- ``FROST_PHOTO_MEAN_STD``: per photo and channel, mean and standard deviation in [0, 1].
  Photos 2 and 3 have identical pixels. Their brightness (mean of the three channel means) is
  0.513, 0.811, 0.811, 0.596, 0.484: 0.643 on average.
- ``FROST_REFERENCE_STRENGTH``: mean |y - x| of the original algorithm (photo drawn uniformly
  from the five, uniform crop origin, the table's (a, b), photos resized by 0.2 / 0.3 with
  bilinear interpolation without antialiasing as OpenCV's INTER_LINEAR does) on
  ``fidelity_images(64, size)``, 16 draws per image, per table size and severity 1..5.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

FROST_QUANTILE_LEVELS = (0.0, 0.005, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
                         0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.995, 1.0)
_FROST1 = (
    (15, 28, 40, 46, 50, 54, 57, 61, 64, 67, 71, 74, 78, 82, 86, 90, 95, 100, 107, 115, 127, 157,
     201),
    (99, 114, 123, 128, 132, 135, 137, 140, 142, 144, 146, 148, 150, 152, 155, 157, 160, 163, 167,
     171, 178, 194, 230),
    (115, 132, 141, 146, 149, 152, 155, 157, 160, 162, 164, 166, 167, 169, 171, 174, 176, 179, 182,
     186, 191, 207, 235),
)
_FROST2 = (  # frost3.png has the same pixels
    (55, 127, 162, 173, 180, 185, 189, 193, 196, 199, 201, 204, 206, 208, 211, 213, 216, 218, 221,
     225, 230, 244, 253),
    (56, 129, 165, 176, 183, 189, 193, 197, 200, 203, 206, 209, 211, 213, 216, 218, 221, 224, 227,
     230, 235, 248, 255),
    (60, 135, 172, 184, 192, 198, 202, 206, 210, 213, 216, 218, 221, 224, 226, 228, 231, 234, 236,
     240, 244, 251, 255),
)
_FROST4 = (
    (15, 59, 91, 102, 110, 115, 120, 124, 128, 131, 135, 138, 141, 144, 148, 151, 155, 159, 164,
     171, 183, 231, 251),
    (24, 73, 105, 118, 125, 131, 135, 139, 143, 146, 150, 153, 156, 159, 163, 166, 170, 174, 179,
     186, 199, 246, 255),
    (31, 82, 115, 129, 137, 142, 147, 151, 155, 158, 162, 165, 169, 172, 176, 179, 183, 188, 193,
     201, 214, 255, 255),
)
_FROST5 = (
    (14, 30, 48, 59, 66, 73, 79, 85, 91, 96, 102, 107, 113, 119, 126, 132, 140, 148, 159, 174, 195,
     243, 255),
    (25, 41, 60, 70, 78, 85, 91, 97, 103, 108, 113, 119, 125, 131, 137, 144, 151, 159, 169, 183,
     203, 246, 255),
    (36, 53, 72, 83, 91, 98, 104, 110, 115, 120, 126, 131, 137, 142, 148, 155, 161, 169, 179, 192,
     211, 250, 255),
)
FROST_PHOTO_QUANTILES = (_FROST1, _FROST2, _FROST2, _FROST4, _FROST5)  # (photo, RGB, level)
FROST_PHOTO_MEAN_STD = (  # (photo, RGB, (mean, std))
    ((0.3046, 0.1055), (0.5848, 0.0646), (0.6499, 0.0601)),
    ((0.7874, 0.0838), (0.8054, 0.0866), (0.8411, 0.0885)),
    ((0.7874, 0.0838), (0.8054, 0.0866), (0.8411, 0.0885)),
    ((0.5397, 0.1117), (0.5991, 0.1117), (0.6477, 0.1171)),
    ((0.4407, 0.1742), (0.4838, 0.1696), (0.5284, 0.1634)),
)
FROST_REFERENCE_STRENGTH = {  # table size -> mean |y - x| at severities 1..5
    32: (0.1200, 0.1738, 0.1980, 0.1842, 0.1853),
    64: (0.1729, 0.1970, 0.1969, 0.2109, 0.2253),
    224: (0.2203, 0.2708, 0.2982, 0.2890, 0.3036),
}


def fidelity_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``n`` natural colour images ``(n, 3, size, size)`` float32 in [0, 1], on 8-bit levels:
    seeded 224 x 224 crops (half of them mirrored) of scikit-learn's two sample photographs,
    shrunk with antialiased bilinear resizing when ``size < 224``. The fixed image set of the
    strength figures above (it needs no download)."""
    photos = _sample_photographs()
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(n):
        photo = photos[i % len(photos)]
        top = int(rng.integers(0, photo.shape[0] - 224 + 1))
        left = int(rng.integers(0, photo.shape[1] - 224 + 1))
        crop = torch.from_numpy(np.ascontiguousarray(photo[top : top + 224, left : left + 224]))
        crop = crop.permute(2, 0, 1).float()
        crops.append(crop.flip(-1) if rng.random() < 0.5 else crop)
    x = torch.stack(crops)
    if size != 224:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=size < 224)
    return x.round().clamp(0, 255) / 255


@functools.lru_cache(maxsize=1)
def _sample_photographs() -> tuple[np.ndarray, ...]:
    """scikit-learn's two sample photographs (china, flower), ``(427, 640, 3)`` uint8."""
    from sklearn.datasets import load_sample_images

    return tuple(load_sample_images().images)
