"""Throughput and memory of one bank as K grows (K = 1, 4, 8, 16): the GPU benchmark of a
temperature sweep. Prints one JSON object per K, e.g. on a GPU machine

    python bench/bank_scaling.py --model resnet18 --device cuda --members 1,4,8,16

Each K trains the same synthetic CIFAR-shaped data (3×32×32, 10 classes) for ``--steps``
optimiser steps after ``--warmup`` steps, with the sweep's GPU settings (bf16 autocast,
channels_last batches, data resident on the device). Reported: member-images/s (K × images/s),
time per step, and peak device memory. Goal on a GPU: K = 8 in at most 2× the time of K = 1.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import nullcontext

import torch

from tempcheck.registry import create_model
from tempcheck.softmax import tempered_cross_entropy
from tempcheck.train.optim import BankOptimizer


def run(model_name: str, members: int, device: torch.device, steps: int, warmup: int,
        batch: int, options: dict, bf16: bool) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch * 4, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (batch * 4,), generator=g).to(device)
    model = create_model(model_name, members=members, seeds=list(range(members)),
                         num_classes=10, in_channels=3, image_size=32, **options).to(device)
    tau = torch.logspace(-1, 2, members).to(device)
    opt = BankOptimizer(list(model.parameters()), torch.full((members,), 0.05), kind="sgd",
                        momentum=0.9, weight_decay=5e-4)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step(i: int) -> None:
        lo = (i % 4) * batch
        xb = x[lo : lo + batch]
        if device.type == "cuda":
            xb = xb.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        with ctx:
            loss = tempered_cross_entropy(model(xb).float(), y[lo : lo + batch], tau).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    out = {"members": members, "step_ms": round(1000 * seconds / steps, 2),
           "member_images_per_s": round(members * batch * steps / seconds, 1)}
    if device.type == "cuda":
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18")
    p.add_argument("--members", default="1,4,8,16")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--options", default="{}", help="model options as JSON, e.g. '{\"width\": 16}'")
    args = p.parse_args()
    device = torch.device(args.device)
    bf16 = device.type == "cuda"
    base = None
    for k in (int(v) for v in args.members.split(",")):
        r = run(args.model, k, device, args.steps, args.warmup, args.batch_size,
                json.loads(args.options), bf16)
        base = base or r["step_ms"]
        r.update(benchmark="bank_scaling", model=args.model, options=json.loads(args.options),
                 device=torch.cuda.get_device_name(device) if device.type == "cuda"
                 else platform.processor() or "cpu", batch_size=args.batch_size,
                 bf16=bf16, step_time_vs_k1=round(r["step_ms"] / base, 3), torch=torch.__version__)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
