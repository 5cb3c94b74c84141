"""Speed of ``tempcheck.bank`` (torch.func vmap over a plain nn.Module) against the native
banked family of the same architecture (``cnn``: grouped convolutions, banked BatchNorm).

The plain module below is the ``cnn`` family written with ``nn.Conv2d`` / ``nn.BatchNorm2d``
(3×3 conv–BN–ReLU stages, a max-pool after a stage while the map is > 4 px, global average
pool, linear head), so both banks compute the same function with the same parameter count.
For each K and input size it times a training step (forward, tempered-CE backward, no update)
and an eval-mode forward, median of ``--repeats`` after warm-up, and prints one JSON object
(a human table on stderr). E.g.

    OMP_NUM_THREADS=1 .venv/bin/python bench/functional_bank.py
    .venv/bin/python bench/functional_bank.py --members 1,8 --sizes 32 --threads 2

Never run as a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch
from torch import nn

from tempcheck.models.functional_bank import bank
from tempcheck.registry import create_model
from tempcheck.softmax import tempered_cross_entropy


def plain_cnn(in_channels: int, image_size: int, widths=(16, 32, 64), num_classes: int = 10):
    """The ``cnn`` family's architecture with plain layers (same shapes and parameters)."""
    layers: list[nn.Module] = []
    size, channels = image_size, in_channels
    for i, w in enumerate(widths):
        layers += [nn.Conv2d(channels, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        if i < len(widths) - 1 and size > 4:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        channels = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_bank(model: nn.Module, x: torch.Tensor, y: torch.Tensor, taus: torch.Tensor,
              repeats: int) -> dict:
    def train_step():
        model.train()
        model.zero_grad(set_to_none=True)
        tempered_cross_entropy(model(x), y, taus).sum().backward()

    @torch.no_grad()
    def eval_forward():
        model.eval()
        model(x)

    return {"train_step_ms": round(1e3 * _median_seconds(train_step, repeats), 3),
            "eval_forward_ms": round(1e3 * _median_seconds(eval_forward, repeats), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", default="1,4,8", help="K values")
    p.add_argument("--sizes", default="8,32", help="image sizes (8: digits 1×8×8, "
                                                   "32: CIFAR-like 3×32×32)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        channels = 1 if size <= 8 else 3
        x = torch.rand(args.batch, channels, size, size, generator=torch.Generator().manual_seed(0))
        y = torch.randint(0, 10, (args.batch,), generator=torch.Generator().manual_seed(1))
        for k in [int(v) for v in args.members.split(",")]:
            seeds = list(range(k))
            taus = torch.logspace(-1, 1, k)
            native = create_model("cnn", members=k, seeds=seeds, num_classes=10,
                                  in_channels=channels, image_size=size)
            functional = bank(plain_cnn, seeds=seeds, sample_shape=(channels, size, size),
                              options={"in_channels": channels, "image_size": size},
                              mean=(0.5,) * channels, std=(0.25,) * channels)
            n_native = sum(t.numel() for t in native.parameters())
            n_functional = sum(t.numel() for t in functional.parameters())
            row = {"image": f"{channels}x{size}x{size}", "members": k, "batch": args.batch,
                   "params_native": n_native, "params_functional": n_functional,
                   "native": time_bank(native, x, y, taus, args.repeats),
                   "functional": time_bank(functional, x, y, taus, args.repeats)}
            row["train_ratio"] = round(row["functional"]["train_step_ms"]
                                       / row["native"]["train_step_ms"], 3)
            row["eval_ratio"] = round(row["functional"]["eval_forward_ms"]
                                      / row["native"]["eval_forward_ms"], 3)
            results.append(row)
            print(f"{row['image']:>9} K={k:<2} train {row['native']['train_step_ms']:8.2f} ms "
                  f"native, {row['functional']['train_step_ms']:8.2f} ms functional "
                  f"(x{row['train_ratio']}); eval x{row['eval_ratio']}", file=sys.stderr)
    print(json.dumps({"benchmark": "functional_bank", "torch": torch.__version__,
                      "threads": args.threads, "machine": platform.machine(),
                      "processor": platform.processor(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
