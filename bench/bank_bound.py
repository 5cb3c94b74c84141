"""How low a bank's time ratio against sequential runs can go on this CPU: a bound from K = 1.

Fusing K members into one bank cannot remove FLOPs (members share nothing but the batch); it can
only run the same work faster. For a K = 1 training step this script measures (one thread):

- the step time and its FLOPs (``torch.utils.flop_counter``), hence the achieved GFLOP/s;
- the share of the step spent in convolutions and matmuls (forward and backward, from
  ``torch.profiler``) and their own GFLOP/s;
- the practical matmul peak of one core (a 2048² float32 matmul, best of 10; on a VM it varies
  from run to run, so ``--peak`` takes the best ever measured: a higher peak lowers the floor).

Then, per member, a bank's step costs at least ``compute × rate / peak + other`` of a K = 1
step: its convolutions and matmuls at best run at the matmul peak (``compute`` is their share,
``rate`` their K = 1 rate), and its other operators (BatchNorm, ReLU, pooling, copies: passes over
activation maps) touch the same bytes per member in a bank as alone, so once the maps are large
enough that per-operator overhead does not count (28 × 28 and 32 × 32 here, not the 8 × 8
digits) they cannot get cheaper per member. That is ``ratio_floor``; ``ratio_floor_free_other``
also makes every other operator free (no CPU kernel library does that) and is a hard floor.

    .venv/bin/python bench/bank_bound.py [--config digits,mnist28,fashion,resnet32] [--steps 8]
        [--peak GFLOPS]

Prints one JSON object per configuration (a human summary on stderr). Never run as a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch
from profile_bank import CONFIGS as PROFILED  # bench/ is on sys.path when run as a script
from profile_bank import make_step
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

# profile_bank's configurations, plus the Fashion-MNIST recipe's model
CONFIGS = {**PROFILED, "fashion": dict(model="cnn", options={"widths": (16, 32, 64, 128)},
                                       channels=1, size=28, batch=128)}
# operators whose self time is GEMM work, forward and backward (convolutions, the head's matmuls)
MATMUL_OPS = ("mm", "bmm", "addmm", "matmul", "linear")


def _is_compute(op: str) -> bool:
    return "conv" in op.lower() or op.split("::")[-1] in MATMUL_OPS


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(name: str, steps: int) -> dict:
    cfg = CONFIGS[name]
    one_step = make_step(cfg, 1, {})  # forward, tempered loss, backward, BankOptimizer step

    def step() -> None:
        one_step(0)

    for _ in range(3):
        step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    step_s = min(_timed(step) for _ in range(steps))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    compute = sum(e.self_cpu_time_total for e in events if _is_compute(e.key))
    share = compute / max(total, 1)
    rate = flops / (share * step_s) / 1e9  # the GEMM operators' own GFLOP/s
    return {"config": name, "step_ms": round(step_s * 1e3, 2), "mflop_per_step": round(flops / 1e6),
            "achieved_gflops": round(flops / step_s / 1e9, 1), "compute_share": round(share, 3),
            "compute_gflops": round(rate, 1),
            "compute_ops": sorted({e.key for e in events if _is_compute(e.key)})}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="digits,mnist28,fashion,resnet32")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--peak", type=float, help="one core's matmul GFLOP/s (default: measured)")
    args = p.parse_args()
    torch.set_num_threads(1)
    peak = max(args.peak or 0.0, matmul_peak())
    for name in args.config.split(","):
        r = measure(name, args.steps)
        speedup = min(1.0, r["compute_gflops"] / peak)  # a GEMM faster than the peak: none
        r.update({
            "benchmark": "bank_bound", "threads": 1, "matmul_peak_gflops": round(peak, 1),
            "ratio_floor": round(r["compute_share"] * speedup + 1 - r["compute_share"], 3),
            # on small maps per-operator overhead dominates and fusing does amortise it
            "floor_applies": CONFIGS[name]["size"] >= 16,
            "ratio_floor_free_other": round(r["compute_share"] * speedup, 3),
            "machine": platform.platform(), "processor": platform.processor(),
            "torch": torch.__version__,
        })
        print(json.dumps(r), flush=True)
        print(f"{name}: K=1 step {r['step_ms']} ms, {r['achieved_gflops']} GFLOP/s of "
              f"{r['matmul_peak_gflops']}; GEMM ops {r['compute_share']:.0%} of the step at "
              f"{r['compute_gflops']} GFLOP/s -> bank/sequential >= {r['ratio_floor']} "
              f"(>= {r['ratio_floor_free_other']} with every other op free)", file=sys.stderr)


if __name__ == "__main__":
    main()
