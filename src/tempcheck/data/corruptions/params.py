"""Names, families, parameter tables and seeds of the 19 corruptions.

The tables are those of the original generators (github.com/hendrycks/robustness, ``make_cifar_c.py``,
``make_tinyimagenet_c.py``, ``make_imagenet_c.py``), one per standard image size ("profile"):
32 = CIFAR, 64 = Tiny-ImageNet, 224 = ImageNet; severities 1..5.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from ...errors import ConfigError, UnknownNameError

CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression", "speckle_noise", "gaussian_blur",
    "spatter", "saturate",
)
BENCHMARK = CORRUPTIONS[:15]  # the mCE corruptions
EXTRAS = CORRUPTIONS[15:]  # held-out "validation" corruptions
FAMILY_NAMES = ("noise", "blur", "weather", "digital", "extra")
FAMILIES = {
    **dict.fromkeys(CORRUPTIONS[0:3], "noise"),
    **dict.fromkeys(CORRUPTIONS[3:7], "blur"),
    **dict.fromkeys(CORRUPTIONS[7:11], "weather"),
    **dict.fromkeys(CORRUPTIONS[11:15], "digital"),
    **dict.fromkeys(EXTRAS, "extra"),
}
SEVERITIES = (1, 2, 3, 4, 5)
PROFILES = (32, 64, 224)
MIN_SIZE = 8
CHUNK_SIZE = 1000  # images per seeded chunk in iter_corrupted (part of the seed contract)
COLOUR_ONLY = frozenset({"saturate"})

# ---------------------------------------------------------------------------------------------
# Parameter tables of the original generators, per profile, severities 1..5
# ---------------------------------------------------------------------------------------------
_P = {
    "gaussian_noise": {
        32: (0.04, 0.06, 0.08, 0.09, 0.10), 64: (0.04, 0.08, 0.12, 0.15, 0.18),
        224: (0.08, 0.12, 0.18, 0.26, 0.38)},
    "shot_noise": {
        32: (500, 250, 100, 75, 50), 64: (250, 100, 50, 30, 15), 224: (60, 25, 12, 5, 3)},
    "impulse_noise": {
        32: (0.01, 0.02, 0.03, 0.05, 0.07), 64: (0.01, 0.02, 0.05, 0.08, 0.14),
        224: (0.03, 0.06, 0.09, 0.17, 0.27)},
    "speckle_noise": {
        32: (0.06, 0.1, 0.12, 0.16, 0.2), 64: (0.15, 0.2, 0.25, 0.3, 0.35),
        224: (0.15, 0.2, 0.35, 0.45, 0.6)},
    "gaussian_blur": {
        32: (0.4, 0.6, 0.7, 0.8, 1.0), 64: (0.5, 0.75, 1.0, 1.25, 1.5), 224: (1, 2, 3, 4, 6)},
    "defocus_blur": {  # (disk radius, alias sigma)
        32: ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        64: ((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
        224: ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))},
    "glass_blur": {  # (sigma, max shift d, iterations)
        32: ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        64: ((0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)),
        224: ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))},
    "motion_blur": {  # (radius, sigma)
        32: ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
        64: ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
        224: ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))},
    "zoom_blur": {  # np.arange(1, stop, step), exactly as the scripts write it
        32: ((1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)),
        64: ((1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)),
        224: ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03))},
    "snow": {  # (mean, std, zoom, threshold, blur radius, blur sigma, blend)
        32: ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
        64: ((0.1, 0.2, 1, 0.6, 8, 3, 0.8), (0.1, 0.2, 1, 0.5, 10, 4, 0.8),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.7), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.65),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.6)),
        224: ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
              (0.55, 0.3, 4, 0.9, 12, 8, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
              (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))},
    "frost": {  # (image weight, frost weight)
        32: ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
        64: ((1, 0.3), (0.9, 0.4), (0.8, 0.45), (0.75, 0.5), (0.7, 0.55)),
        224: ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))},
    "fog": {  # (fog weight, plasma decay)
        32: ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
        64: ((0.4, 3), (0.7, 3), (1, 2.5), (1.5, 2), (2, 1.75)),
        224: ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4))},
    "brightness": {
        32: (0.05, 0.1, 0.15, 0.2, 0.3), 64: (0.1, 0.2, 0.3, 0.4, 0.5),
        224: (0.1, 0.2, 0.3, 0.4, 0.5)},
    "contrast": {
        32: (0.75, 0.5, 0.4, 0.3, 0.15), 64: (0.4, 0.3, 0.2, 0.1, 0.05),
        224: (0.4, 0.3, 0.2, 0.1, 0.05)},
    "elastic_transform": {  # (alpha, sigma, affine jitter) in pixels at the profile size
        32: ((0, 0, 2.56), (1.6, 6.4, 2.24), (2.56, 1.92, 1.92), (3.2, 1.28, 1.6),
             (3.2, 0.96, 0.96)),
        64: ((0, 0, 5.12), (3.2, 19.2, 3.84), (6.4, 5.12, 3.84), (6.4, 1.92, 1.92),
             (10.24, 1.92, 1.28)),
        224: ((488, 170.8, 24.4), (488, 19.52, 48.8), (12.2, 2.44, 4.88), (17.08, 2.44, 4.88),
              (29.28, 2.44, 4.88))},
    "pixelate": {
        32: (0.95, 0.9, 0.85, 0.75, 0.65), 64: (0.9, 0.8, 0.7, 0.6, 0.5),
        224: (0.6, 0.5, 0.4, 0.3, 0.25)},
    "jpeg_compression": {
        32: (80, 65, 58, 50, 40), 64: (65, 58, 50, 40, 25), 224: (25, 18, 15, 10, 7)},
    "spatter": {  # (mean, std, blur sigma, threshold, intensity / mud sigma, mode 0 water 1 mud)
        32: ((0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0),
             (0.65, 0.3, 1, 0.69, 0.5, 0), (0.65, 0.1, 0.7, 0.69, 0.6, 1),
             (0.65, 0.1, 0.5, 0.68, 0.6, 1)),
        64: ((0.62, 0.1, 0.7, 0.7, 0.6, 0), (0.65, 0.1, 0.8, 0.7, 0.6, 0),
             (0.65, 0.3, 1, 0.69, 0.6, 0), (0.65, 0.1, 0.7, 0.68, 0.6, 1),
             (0.65, 0.1, 0.5, 0.67, 0.6, 1)),
        224: ((0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0),
              (0.65, 0.3, 2, 0.68, 0.5, 0), (0.65, 0.3, 1, 0.65, 1.5, 1),
              (0.67, 0.4, 1, 0.65, 1.5, 1))},
    "saturate": {  # (saturation factor, offset)
        32: ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
        64: ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (30, 0.2)),
        224: ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))},
}
_FROST_PHOTOS = ((600, 900), (315, 560), (315, 560), (350, 527), (495, 660))  # (H, W), 1..5
_FROST_RESIZE = {32: 0.2, 64: 0.3, 224: 1.0}


# ---------------------------------------------------------------------------------------------
# Names, profiles, seeds
# ---------------------------------------------------------------------------------------------
def _check_name(name: str) -> str:
    if name not in FAMILIES:
        raise UnknownNameError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    return name


def supported(name: str, channels: int) -> bool:
    """Whether corruption ``name`` is defined for ``channels``-channel images (1 or 3)."""
    _check_name(name)
    if channels == 3:
        return True
    return channels == 1 and name not in COLOUR_ONLY


def resolve(spec: str | list | tuple | None = "all") -> tuple[str, ...]:
    """Corruption names in canonical order from ``"all"``, ``"benchmark"``, ``"extras"``, a
    family name, a comma-separated string or a list of any of these."""
    if spec is None:
        spec = "all"
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    chosen: set[str] = set()
    for item in items:
        if not isinstance(item, str) or not item:
            raise ConfigError(f"bad corruption name {item!r}")
        if item == "all":
            chosen.update(CORRUPTIONS)
        elif item == "benchmark":
            chosen.update(BENCHMARK)
        elif item in ("extras", "extra"):
            chosen.update(EXTRAS)
        elif item in FAMILY_NAMES:
            chosen.update(n for n in CORRUPTIONS if FAMILIES[n] == item)
        else:
            chosen.add(_check_name(item))
    return tuple(n for n in CORRUPTIONS if n in chosen)


def profile_for(height: int, width: int) -> int:
    """The standard size (32, 64 or 224) nearest in log scale to the shorter image side."""
    side = min(height, width)
    return min(PROFILES, key=lambda p: abs(math.log(side / p)))


TABLE_NAMES = {"cifar": 32, "tiny": 64, "imagenet": 224}  # --table aliases
TABLE_DATASETS = {32: "CIFAR-10-C", 64: "Tiny-ImageNet-C", 224: "ImageNet-C"}
TABLE_CHOICES = ("auto", "32", "64", "224", *TABLE_NAMES)


def parse_table(spec) -> int | None:
    """The parameter table asked for: ``"auto"`` (or None) -> None, ``32 / 64 / 224`` (int or
    string) or ``cifar / tiny / imagenet`` -> that size; anything else is a ConfigError."""
    if spec is None or spec == "auto":
        return None
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in TABLE_NAMES:
            return TABLE_NAMES[key]
        spec = int(key) if key.isdigit() else spec
    if not isinstance(spec, bool) and isinstance(spec, int) and spec in PROFILES:
        return spec
    raise ConfigError(f"corruption table must be one of {', '.join(TABLE_CHOICES)}, "
                      f"got {spec!r}")


@dataclass(frozen=True)
class TableChoice:
    """Which parameter table corrupts ``height x width`` images, and why."""

    size: int  # 32, 64 or 224
    auto: bool  # picked from the image size (``table=auto``), not asked for
    height: int
    width: int

    @property
    def dataset(self) -> str:
        return TABLE_DATASETS[self.size]

    @property
    def reason(self) -> str:
        if not self.auto:
            return f"as asked (table {self.size})"
        side = min(self.height, self.width)
        return (f"picked automatically (table auto) as the standard size nearest in log scale "
                f"to the shorter side, {side} px: 32 up to 45 px, 64 from 46 to 119 px, 224 "
                "from 120 px")

    @property
    def note(self) -> str:
        """One line for the user, e.g. ``tempcheck corrupt``'s output."""
        text = (f"corruption parameters: the {self.size} px ({self.dataset}) table for "
                f"{self.height}x{self.width} images, {self.reason}")
        return text + ("; choose one with table 32, 64 or 224" if self.auto else "")

    def to_dict(self) -> dict:
        return {"size": self.size, "dataset": self.dataset, "auto": self.auto,
                "reason": self.reason}


def choose_table(height: int, width: int, spec="auto") -> TableChoice:
    """The parameter table for ``height x width`` images: ``spec`` as :func:`parse_table`
    reads it, or, for ``"auto"``, :func:`profile_for` of the image size."""
    asked = parse_table(spec)
    size = profile_for(height, width) if asked is None else asked
    return TableChoice(size=size, auto=asked is None, height=int(height), width=int(width))


def parameters(name: str, severity: int, profile: int = 32):
    """The original generator's parameter tuple of ``name`` at ``severity``."""
    return _P[_check_name(name)][_check_profile(profile)][_check_severity(severity) - 1]


def _check_profile(profile: int) -> int:
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {PROFILES}, got {profile!r}")
    return profile


def _check_severity(severity: int) -> int:
    if isinstance(severity, bool) or int(severity) != severity or not 1 <= severity <= 5:
        raise ConfigError(f"severity must be an integer 1..5, got {severity!r}")
    return int(severity)


def derive_seed(seed: int, name: str, severity: int, chunk: int = 0) -> int:
    """A 63-bit seed for (seed, corruption, severity, chunk), independent of which other
    corruptions are run: the contract shared by the evaluation and the CIFAR-C writer."""
    text = f"{int(seed)}/{name}/{int(severity)}/{int(chunk)}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1
