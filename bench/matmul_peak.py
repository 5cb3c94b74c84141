"""Practical peak of this machine: achieved GFLOP/s of a large dense float32 matmul.

A square n × n matmul costs 2·n³ floating-point operations; the best of ``--repeats`` timed runs
(after warm-up) is the practical peak that model FLOP rates are compared against (the 2-core
AVX2/FMA CPU here has a theoretical fp32 peak near 157 GFLOP/s).

    python bench/matmul_peak.py [--size 2048] [--repeats 10] [--device cpu|cuda] [--threads N]

Prints one JSON object on stdout (a human summary goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(size: int, repeats: int, device: str, dtype: torch.dtype) -> dict:
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=g, dtype=torch.float32).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=g, dtype=torch.float32).to(device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(2):  # warm-up: thread pools, kernel selection
        torch.matmul(a, b, out=out)
    _sync(device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        _sync(device)
        seconds.append(time.perf_counter() - start)
    flops = 2.0 * size**3
    return {
        "gflops_best": round(flops / min(seconds) / 1e9, 2),
        "gflops_median": round(flops / statistics.median(seconds) / 1e9, 2),
        "seconds_best": round(min(seconds), 5),
        "seconds_median": round(statistics.median(seconds), 5),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    result = {
        "benchmark": "matmul_peak",
        "size": args.size,
        "repeats": args.repeats,
        "dtype": args.dtype,
        "device": args.device,
        "device_name": (
            torch.cuda.get_device_name(args.device) if args.device.startswith("cuda")
            else platform.processor() or platform.machine()
        ),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        **measure(args.size, args.repeats, args.device, dtype),
    }
    print(json.dumps(result))
    print(
        f"{args.size}x{args.size} {args.dtype} matmul on {args.device} "
        f"({result['threads']} threads): best {result['gflops_best']} GFLOP/s, "
        f"median {result['gflops_median']} GFLOP/s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
