"""Wall time of a K-member bank against K sequential K = 1 runs (same data, epochs, seeds).

Prints one JSON object per configuration (and a human table on stderr), e.g.

    .venv/bin/python bench/bank_vs_sequential.py --model cnn --members 8 --epochs 3

Never run as a test: timings depend on the machine; the README quotes them with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

from tempcheck.data.base import DatasetSplits, Split
from tempcheck.registry import create_model, load_dataset
from tempcheck.train.loop import FitOptions, fit


def synthetic_images(n: int, channels: int, size: int, classes: int) -> DatasetSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, channels, size, size, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    small = Split(x[:256], y[:256])
    return DatasetSplits(f"synthetic{size}", Split(x, y), small, small, classes, channels, size,
                         (0.5,) * channels, (0.25,) * channels)


def time_fit(model_name: str, data: DatasetSplits, members: int, epochs: int, batch: int,
             options: dict) -> float:
    taus = torch.logspace(-1, 2, members).tolist()
    model = create_model(model_name, members=members, seeds=list(range(members)),
                         **options, **data.model_kwargs())
    opts = FitOptions(epochs=epochs, batch_size=batch, eval_every=10**9)
    t0 = time.perf_counter()
    fit(model, data, temperatures=taus, lrs=[0.05] * members, options=opts)
    return time.perf_counter() - t0


def training_flops_per_sample(model_name: str, data: DatasetSplits, options: dict) -> float:
    """FLOPs of one forward + backward of a K = 1 model, per sample (torch's FLOP counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = create_model(model_name, members=1, seeds=[0], **options, **data.model_kwargs())
    x = data.train.x[:32].float()
    if x.max() > 1:
        x = x / 255
    counter = FlopCounterMode(display=False)
    with counter:
        model(x).sum().backward()
    return counter.get_total_flops() / x.shape[0]


def practical_peak_gflops() -> float:
    """Best GFLOP/s of a 2048² float32 matmul: the CPU's practical peak (bench/matmul_peak.py)."""
    sys.path.insert(0, os.path.dirname(__file__))
    from matmul_peak import measure

    return measure(2048, 5, "cpu", torch.float32)["gflops_best"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cnn")
    p.add_argument("--data", default="digits", help="digits or synthetic32 (3x32x32)")
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n", type=int, default=1024, help="images for synthetic data")
    p.add_argument("--options", default="{}", help="model options as JSON")
    args = p.parse_args()
    torch.manual_seed(0)
    data = load_dataset("digits") if args.data == "digits" else \
        synthetic_images(args.n, 3, 32, 10)
    options = json.loads(args.options)
    bank = time_fit(args.model, data, args.members, args.epochs, args.batch_size, options)
    sequential = sum(time_fit(args.model, data, 1, args.epochs, args.batch_size, options)
                     for _ in range(args.members))
    n = len(data.train) * args.epochs * args.members
    flops = training_flops_per_sample(args.model, data, options) * n
    peak = practical_peak_gflops()
    result = {
        "benchmark": "bank_vs_sequential", "model": args.model, "options": options,
        "data": args.data, "members": args.members, "epochs": args.epochs,
        "batch_size": args.batch_size, "bank_seconds": round(bank, 3),
        "sequential_seconds": round(sequential, 3), "ratio": round(bank / sequential, 3),
        "bank_member_samples_per_s": round(n / bank, 1),
        "sequential_member_samples_per_s": round(n / sequential, 1),
        "bank_gflops": round(flops / bank / 1e9, 2),
        "sequential_gflops": round(flops / sequential / 1e9, 2),
        "matmul_peak_gflops": peak,
        "bank_fraction_of_peak": round(flops / bank / 1e9 / peak, 3),
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.platform(), "torch": torch.__version__,
    }
    print(json.dumps(result))
    print(f"{args.model} K={args.members}: bank {bank:.2f}s vs sequential {sequential:.2f}s "
          f"-> ratio {bank / sequential:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
