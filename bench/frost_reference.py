"""Frost fidelity: tempcheck's procedural frost against the original photo-based frost.

Prints one JSON object: per table size (32, 64, 224) and severity, the strength (mean |y - x|)
of tempcheck's frost and, when ``--photos`` is given, of the original algorithm with the real
photos, on the same fixed natural images (``fidelity_images``), and their ratio; plus the
per-channel brightness mean / standard deviation of the photos and of tempcheck's textures.
Without ``--photos`` the recorded reference (``FROST_REFERENCE_STRENGTH``) is used. E.g.

    .venv/bin/python bench/frost_reference.py
    .venv/bin/python bench/frost_reference.py --photos DIR --quantiles

DIR holds ``frost1.png, frost2.png, frost3.png, frost4.jpg, frost5.jpg`` from
``ImageNet-C/create_c/`` of github.com/hendrycks/robustness (not shipped with tempcheck);
``--quantiles`` also prints the photos' quantile table as ``fidelity.py`` records it.
The reference below follows the published algorithm (a photo drawn uniformly from the five,
resized by 0.2 / 0.3 for the 32 / 64 px tables with bilinear interpolation and no
antialiasing, a uniform crop origin, ``clip(a x + b F, 0, 255)``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tempcheck.data import corruptions as C
from tempcheck.data.corruptions import fidelity
from tempcheck.data.corruptions.frost import _frost_canvas

PHOTOS = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
RESIZE = {32: 0.2, 64: 0.3, 224: 1.0}


def load_photos(folder: Path) -> list[torch.Tensor]:
    """The five photos as ``(3, H, W)`` float64 grey levels 0..255 (alpha dropped)."""
    from PIL import Image

    out = []
    for name in PHOTOS:
        with Image.open(folder / name) as img:
            arr = np.asarray(img.convert("RGB"), dtype=np.float64)
        out.append(torch.from_numpy(arr).permute(2, 0, 1).contiguous())
    return out


def reference_strength(x: torch.Tensor, photos: list[torch.Tensor], severity: int,
                       profile: int, draws: int, seed: int = 0) -> float:
    """Mean |y - x| of the original frost on ``x (N, 3, S, S)`` in [0, 1], ``draws`` frost
    draws per image."""
    a, b = C.parameters("frost", severity, profile)
    f = RESIZE[profile]
    resized = [p if f == 1 else F.interpolate(
        p[None], scale_factor=f, mode="bilinear", align_corners=False, antialias=False,
        recompute_scale_factor=False)[0].round().clamp(0, 255) for p in photos]
    rng = np.random.default_rng(seed)
    side = x.shape[-1]
    grey = x.double() * 255
    total = 0.0
    for _ in range(draws):
        for i in range(x.shape[0]):
            p = resized[int(rng.integers(len(resized)))]
            top = int(rng.integers(0, p.shape[1] - side))
            left = int(rng.integers(0, p.shape[2] - side))
            y = (a * grey[i] + b * p[:, top : top + side, left : left + side]).clamp(0, 255)
            total += float((y - grey[i]).abs().mean()) / 255
    return total / (draws * x.shape[0])


def tempcheck_strength(x: torch.Tensor, severity: int, seeds: int) -> float:
    return float(np.mean([(C.corrupt(x, "frost", severity, seed=s) - x).abs().mean().item()
                          for s in range(seeds)]))


def brightness(planes: list[torch.Tensor]) -> list[dict]:
    """Per image: per-channel mean and standard deviation in [0, 1]."""
    return [{"mean": [round(float(v), 4) for v in p.mean(dim=(1, 2))],
             "std": [round(float(v), 4) for v in p.std(dim=(1, 2), correction=0)]}
            for p in planes]


def quantile_table(photos: list[torch.Tensor]) -> list[list[list[int]]]:
    levels = np.array(fidelity.FROST_QUANTILE_LEVELS)
    return [[[int(round(v)) for v in np.quantile(p[c].numpy().ravel(), levels)]
             for c in range(3)] for p in photos]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, help="folder with the original frost photos")
    ap.add_argument("--n", type=int, default=64, help="images (fidelity_images)")
    ap.add_argument("--draws", type=int, default=16, help="reference frost draws per image")
    ap.add_argument("--seeds", type=int, default=4, help="tempcheck frost seeds per image")
    ap.add_argument("--quantiles", action="store_true", help="print the photo quantile table")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    photos = load_photos(args.photos) if args.photos else None
    report: dict = {"benchmark": "frost_reference", "n": args.n, "seeds": args.seeds,
                    "reference": "measured now" if photos else "recorded"}
    if photos:
        report["draws"] = args.draws
        report["photo_brightness"] = brightness([p / 255 for p in photos])
        if args.quantiles:
            report["photo_quantiles"] = quantile_table(photos)
    report["texture_brightness"] = {
        size: brightness([_frost_canvas(size, i, size, size) for i in range(5)])
        for size in C.PROFILES}
    strength = {}
    for size in C.PROFILES:
        x = fidelity.fidelity_images(args.n, size)
        rows = []
        for s in C.SEVERITIES:
            ref = (reference_strength(x, photos, s, size, args.draws) if photos
                   else fidelity.FROST_REFERENCE_STRENGTH[size][s - 1])
            ours = tempcheck_strength(x, s, args.seeds)
            rows.append({"severity": s, "reference": round(ref, 4), "tempcheck": round(ours, 4),
                         "ratio": round(ours / ref, 3)})
            print(f"{size:4d} px severity {s}: reference {ref:.4f} tempcheck {ours:.4f} "
                  f"ratio {ours / ref:.3f}", file=sys.stderr)
        strength[size] = rows
    report["strength"] = strength
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
