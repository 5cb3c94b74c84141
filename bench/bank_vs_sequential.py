"""Wall time of a K-member bank against K sequential K = 1 runs (same data, epochs, seeds).

Bank and sequential runs are interleaved (bank, K singles, bank, K singles, ...) for
``--rounds`` rounds at each thread count in ``--threads``, so load from other processes hits
both alike; the ratio is taken from the best round of each (wall clock, and process CPU time,
which is less sensitive to other load). One JSON object per thread count, e.g.

    .venv/bin/python bench/bank_vs_sequential.py --preset digits
    .venv/bin/python bench/bank_vs_sequential.py --preset mnist28
    .venv/bin/python bench/bank_vs_sequential.py --preset resnet32

Presets (the issue's configurations): ``digits`` (cnn, 8×8 digits, K = 8, batch 64),
``mnist28`` (cnn 16-32-64 on 1×28×28, K = 7, batch 128), ``resnet32`` (resnet18 width 16 on
3×32×32, K = 8, batch 64). Never run as a test: timings depend on the machine; the README
quotes them with the machine.
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

PRESETS = {
    "digits": dict(model="cnn", data="digits", members=8, batch_size=64, epochs=2, n=0,
                   options={}),
    "mnist28": dict(model="cnn", data="synthetic28", members=7, batch_size=128, epochs=1,
                    n=1024, options={}),
    "resnet32": dict(model="resnet18", data="synthetic32", members=8, batch_size=64, epochs=1,
                     n=256, options={"width": 16}),
}


def synthetic_images(n: int, channels: int, size: int, classes: int) -> DatasetSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, channels, size, size, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    small = Split(x[:256], y[:256])
    return DatasetSplits(f"synthetic{size}", Split(x, y), small, small, classes, channels, size,
                         (0.5,) * channels, (0.25,) * channels)


def load(name: str, n: int) -> DatasetSplits:
    if name == "digits":
        return load_dataset("digits")
    if name == "synthetic28":
        return synthetic_images(n, 1, 28, 10)
    if name == "synthetic32":
        return synthetic_images(n, 3, 32, 10)
    raise SystemExit(f"error: unknown data {name!r}")


def time_fit(model_name: str, data: DatasetSplits, members: int, epochs: int, batch: int,
             options: dict) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``fit`` on a fresh K-member model."""
    taus = torch.logspace(-1, 2, members).tolist()
    model = create_model(model_name, members=members, seeds=list(range(members)),
                         **options, **data.model_kwargs())
    opts = FitOptions(epochs=epochs, batch_size=batch, eval_every=10**9)
    w0, c0 = time.perf_counter(), time.process_time()
    fit(model, data, temperatures=taus, lrs=[0.05] * members, options=opts)
    return time.perf_counter() - w0, time.process_time() - c0


def measure(args, data, options: dict, threads: int) -> dict:
    torch.set_num_threads(threads)
    bank_runs, seq_runs = [], []
    for _ in range(args.rounds):
        bank_runs.append(time_fit(args.model, data, args.members, args.epochs, args.batch_size,
                                  options))
        singles = [time_fit(args.model, data, 1, args.epochs, args.batch_size, options)
                   for _ in range(args.members)]
        seq_runs.append((sum(s[0] for s in singles), sum(s[1] for s in singles)))
    bank_wall, bank_cpu = min(r[0] for r in bank_runs), min(r[1] for r in bank_runs)
    seq_wall, seq_cpu = min(r[0] for r in seq_runs), min(r[1] for r in seq_runs)
    steps = (len(data.train) // args.batch_size) * args.epochs
    return {
        "threads": threads,
        "bank_seconds": round(bank_wall, 3), "sequential_seconds": round(seq_wall, 3),
        "ratio": round(bank_wall / seq_wall, 3),
        "bank_cpu_seconds": round(bank_cpu, 3), "sequential_cpu_seconds": round(seq_cpu, 3),
        "cpu_ratio": round(bank_cpu / seq_cpu, 3),
        "bank_ms_per_step": round(bank_wall / steps * 1e3, 2),
        "single_ms_per_step": round(seq_wall / args.members / steps * 1e3, 2),
        "rounds_wall": [[round(b[0], 3), round(s[0], 3)] for b, s in zip(bank_runs, seq_runs)],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), help="fills the options below")
    p.add_argument("--model", default="cnn")
    p.add_argument("--data", default="digits", help="digits, synthetic28 or synthetic32")
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n", type=int, default=1024, help="images for synthetic data")
    p.add_argument("--options", default="{}", help="model options as JSON")
    p.add_argument("--threads", default="1,2", help="torch thread counts to measure")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    if args.preset:
        preset = PRESETS[args.preset]
        for key in ("model", "data", "members", "epochs", "batch_size", "n"):
            setattr(args, key, preset[key])
        args.options = json.dumps({**preset["options"], **json.loads(args.options)})
    data = load(args.data, args.n)
    options = json.loads(args.options)
    time_fit(args.model, data, 1, 1, args.batch_size, options)  # warm-up (allocator, oneDNN)
    for threads in [int(t) for t in args.threads.split(",")]:
        result = {"benchmark": "bank_vs_sequential", "preset": args.preset, "model": args.model,
                  "options": options, "data": args.data, "train_images": len(data.train),
                  "members": args.members, "epochs": args.epochs, "batch_size": args.batch_size,
                  **measure(args, data, options, threads),
                  "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
                  "machine": platform.platform(), "processor": platform.processor(),
                  "torch": torch.__version__}
        print(json.dumps(result), flush=True)
        print(f"{args.model} K={args.members} threads={threads}: bank {result['bank_seconds']}s "
              f"vs sequential {result['sequential_seconds']}s -> ratio {result['ratio']} "
              f"(CPU-time ratio {result['cpu_ratio']})", file=sys.stderr)


if __name__ == "__main__":
    main()
