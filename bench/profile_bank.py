"""Where a bank's training step spends its time: torch.profiler per operator, K = 1 against K.

For each configuration (model, image size, batch) it times ``--steps`` training steps of a
K = 1 model and of a K-member bank (forward, tempered loss, backward, BankOptimizer step) and
prints one JSON object per (configuration, K) with the step time and the top operators by
self CPU time (ms per step and share of the step), e.g.

    .venv/bin/python bench/profile_bank.py --config digits --members 8 --threads 1

Configurations: ``digits`` (cnn 16-32-64, 1×8×8, batch 64), ``mnist28`` (the same cnn at
1×28×28, batch 128), ``resnet32`` (resnet18 width 16, 3×32×32, batch 64). Never run as a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from tempcheck.registry import create_model
from tempcheck.softmax import tempered_cross_entropy
from tempcheck.train.optim import BankOptimizer

CONFIGS = {
    "digits": dict(model="cnn", options={"widths": (16, 32, 64)}, channels=1, size=8, batch=64),
    "mnist28": dict(model="cnn", options={"widths": (16, 32, 64)}, channels=1, size=28,
                    batch=128),
    "resnet32": dict(model="resnet18", options={"width": 16}, channels=3, size=32, batch=64),
}


def make_step(cfg: dict, members: int, model_options: dict):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(cfg["batch"] * 2, cfg["channels"], cfg["size"], cfg["size"], generator=g)
    y = torch.randint(0, 10, (cfg["batch"] * 2,), generator=g)
    model = create_model(cfg["model"], members=members, seeds=list(range(members)),
                         num_classes=10, in_channels=cfg["channels"], image_size=cfg["size"],
                         **cfg["options"], **model_options).train()
    tau = torch.logspace(-1, 2, members)
    opt = BankOptimizer(list(model.parameters()), torch.full((members,), 0.05), kind="sgd",
                        momentum=0.9, weight_decay=5e-4)
    b = cfg["batch"]

    def step(i: int) -> None:
        lo = (i % 2) * b
        loss = tempered_cross_entropy(model(x[lo : lo + b]), y[lo : lo + b], tau).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def profile_config(name: str, members: int, steps: int, top: int, model_options: dict) -> dict:
    cfg = CONFIGS[name]
    step = make_step(cfg, members, model_options)
    for i in range(3):
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    plain = (time.perf_counter() - t0) / steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            step(i)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {
        "benchmark": "profile_bank", "config": name, "members": members,
        "model_options": model_options, "threads": torch.get_num_threads(),
        "step_ms": round(plain * 1e3, 2), "member_step_ms": round(plain * 1e3 / members, 2),
        "top_ops": [{"op": e.key, "ms_per_step": round(e.self_cpu_time_total / 1e3 / steps, 3),
                     "share": round(e.self_cpu_time_total / max(total, 1), 3),
                     "calls_per_step": round(e.count / steps, 1)} for e in rows],
        "machine": platform.platform(), "torch": torch.__version__,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="digits,mnist28,resnet32")
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model-options", default="{}", help="extra model options as JSON")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.config.split(","):
        for k in (1, args.members):
            res = profile_config(name, k, args.steps, args.top, json.loads(args.model_options))
            print(json.dumps(res), flush=True)
            head = ", ".join(f"{r['op']} {r['share']:.0%}" for r in res["top_ops"][:5])
            print(f"{name} K={k}: {res['step_ms']} ms/step; {head}", file=sys.stderr)


if __name__ == "__main__":
    main()
