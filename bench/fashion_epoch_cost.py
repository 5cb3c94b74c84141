"""What one training epoch of the Fashion-MNIST study costs: a K-bank of the ``cnn`` on
1 × 28 × 28 inputs, timed over a few SGD steps on random data and scaled to 55,000 images.

    python bench/fashion_epoch_cost.py [--widths 8,32,64,128 16,32,64,128] [--members 7]
        [--batch 128] [--steps 10] [--threads 1]

Reports, per widths, the wall time and the process CPU time per step and per epoch. On a shared
machine compare the CPU seconds (``cpu_s_per_epoch``), which other processes inflate least, and
compare widths as ratios within one run; on a quiet machine the wall figures are the real cost.
Prints one JSON object on stdout (a human summary goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from tempcheck.registry import create_model
from tempcheck.softmax import tempered_cross_entropy

TRAIN_IMAGES = 55_000


def measure(widths: list[int], members: int, batch: int, steps: int) -> dict:
    model = create_model("cnn", num_classes=10, in_channels=1, image_size=28, members=members,
                         seeds=list(range(members)), widths=widths, mean=(0.286,), std=(0.353,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    taus = torch.logspace(-1, 2, members)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        tempered_cross_entropy(model(x), y, taus).sum().backward()
        opt.step()

    for _ in range(3):  # warm-up: oneDNN kernel selection, allocator
        step()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    cpu = (time.process_time() - cpu0) / steps
    wall = (time.perf_counter() - wall0) / steps
    per_epoch = TRAIN_IMAGES / batch
    return {"widths": widths, "members": members, "batch": batch, "steps": steps,
            "wall_s_per_step": round(wall, 4), "cpu_s_per_step": round(cpu, 4),
            "wall_s_per_epoch": round(wall * per_epoch, 1),
            "cpu_s_per_epoch": round(cpu * per_epoch, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", nargs="+", default=["8,32,64,128", "16,32,64,128", "16,32,64"])
    p.add_argument("--members", type=int, default=7)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = [measure([int(w) for w in spec.split(",")], args.members, args.batch, args.steps)
            for spec in args.widths]
    for r in runs:
        print(f"widths {r['widths']}: {r['cpu_s_per_epoch']} CPU-s, {r['wall_s_per_epoch']} s "
              "wall per epoch", file=sys.stderr)
    print(json.dumps({"machine": platform.platform(), "threads": args.threads,
                      "torch": torch.__version__, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
