"""Throughput of the 19 corruptions x 5 severities (data/corruptions/) on CIFAR-size images.

Prints one JSON object (and a human table on stderr): images/s per corruption (all 5 severities
together, in ``iter_corrupted``'s chunks of 1,000 as the evaluation and the CIFAR-C writer run
them), the measured total, and the time extrapolated linearly to ``--target`` images
(default 10,000: the CIFAR-10-C size, 10,000 x 19 x 5). E.g.

    .venv/bin/python bench/corruptions.py --n 1000
    .venv/bin/python bench/corruptions.py --n 1000 --size 64 --channels 1

The images are smooth random colour fields with edges (deterministic), not a dataset, so the
numbers do not depend on a download. The first call of frost in a process builds the procedural
frost textures; that one-time cost is reported separately (``frost_texture_s``). On a 2-core
machine shared with other jobs, ``--threads 1`` is several times faster than the default two
intra-op threads (OpenMP threads stall when a core is taken). Never run as a test: timings
depend on the machine; the README quotes them with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

from tempcheck.data import corruptions as C


def images(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    """Natural-ish test images ``(n, channels, size, size)`` in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(n, channels, size, size)
    for cells in (2, 4, 8):
        coarse = torch.rand(n, channels, cells, cells, generator=g)
        out += F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    out /= 3
    rows = torch.arange(size).view(1, 1, size, 1)
    edge = (rows > torch.randint(size // 4, 3 * size // 4, (n, 1, 1, 1), generator=g)).float()
    return (0.75 * out + 0.25 * edge).clamp(0, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="images per corruption x severity")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3, choices=(1, 3))
    ap.add_argument("--target", type=int, default=10_000, help="images to extrapolate to")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    x = images(args.n, args.channels, args.size).to(args.device)

    t0 = time.perf_counter()
    C.corrupt(x[:1], "frost", 1)  # builds and caches the textures for this profile
    frost_texture_s = time.perf_counter() - t0

    per, total = {}, 0.0
    for name in C.CORRUPTIONS:
        if not C.supported(name, args.channels):
            continue
        start = time.perf_counter()
        for severity in C.SEVERITIES:
            for _ in C.iter_corrupted(x, name, severity, seed=0):
                pass
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        total += seconds
        per[name] = {"seconds_5_severities": round(seconds, 3),
                     "images_per_s": round(5 * args.n / seconds, 1)}
    report = {
        "benchmark": "corruptions", "n": args.n, "size": args.size, "channels": args.channels,
        "device": args.device, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "machine": platform.machine(), "torch": torch.__version__,
        "frost_texture_s": round(frost_texture_s, 3), "per_corruption": per,
        "measured_total_s": round(total, 2),
        "extrapolated_total_s": round(total * args.target / args.n, 1),
        "extrapolated_to_images": args.target,
    }
    print(json.dumps(report))
    print(f"{'corruption':20s} {'img/s':>10s} {'s (5 sev)':>10s}", file=sys.stderr)
    for name, row in per.items():
        print(f"{name:20s} {row['images_per_s']:10.1f} {row['seconds_5_severities']:10.2f}",
              file=sys.stderr)
    print(f"total {total:.1f} s for {args.n} images; {args.target} images: "
          f"~{report['extrapolated_total_s']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
