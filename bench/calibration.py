"""Wall time of post-hoc temperature scaling (L-BFGS, strong Wolfe, float64; eval/scaling/temperature_fit.py).

Prints one JSON object (and a human table on stderr): the fit time for N × C logits (default
100,000 × 100, goal: well under a second), its L-BFGS iterations, NLL evaluations and final
|∂NLL/∂log T|; and a K-member banked fit against K separate fits. E.g.

    .venv/bin/python bench/calibration.py
    .venv/bin/python bench/calibration.py --n 100000 --classes 100 --members 8 --bank-n 20000

Times are the best of ``--repeats`` warm runs (wall, with the process CPU time of that run:
on a loaded machine CPU time / threads is the better guide); ``first_call_s`` is the one-time
cost of the first fit in a process (torch.optim.LBFGS imports torch._dynamo lazily). Never run
as a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import torch

from tempcheck.eval.scaling import fit_temperature


def synthetic(n: int, c: int, members: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 logits (N, K, C) of a calibrated set sharpened by 2.5 / 0.5 / ... per member."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g) * 3
    y = torch.multinomial(z.softmax(-1), 1, generator=g).squeeze(1)
    scales = torch.logspace(-0.5, 0.5, members) if members > 1 else torch.tensor([2.5])
    return z.unsqueeze(1) * scales.view(1, -1, 1), y


def best_time(fn, repeats: int):
    """(best wall seconds, process CPU seconds of that run, result)."""
    best, out = (math.inf, math.inf), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return best[0], best[1], out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--bank-n", type=int, default=20_000, help="samples for the banked fit")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    z, y = synthetic(args.n, args.classes, 1)
    z = z[:, 0]  # (N, C)
    t0 = time.perf_counter()
    fit_temperature(z[:100], y[:100])
    first_call = time.perf_counter() - t0
    single_s, single_cpu, fit = best_time(lambda: fit_temperature(z, y), args.repeats)

    zb, yb = synthetic(args.bank_n, args.classes, args.members, seed=1)
    bank_s, bank_cpu, bank = best_time(lambda: fit_temperature(zb, yb), args.repeats)
    separate_s, _, _ = best_time(
        lambda: [fit_temperature(zb[:, k], yb) for k in range(args.members)], 1)
    result = {
        "benchmark": "calibration.temperature_scaling",
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "load_avg_1m": os.getloadavg()[0]},
        "single": {"n": args.n, "classes": args.classes, "fit_s": round(single_s, 4),
                   "fit_cpu_s": round(single_cpu, 4),
                   "temperature": float(fit.temperature[0]), "iterations": fit.iterations[0],
                   "evaluations": fit.evaluations,
                   "final_abs_grad_log_t": abs(float(fit.final_grad[0]))},
        "banked": {"n": args.bank_n, "classes": args.classes, "members": args.members,
                   "fit_s": round(bank_s, 4), "fit_cpu_s": round(bank_cpu, 4),
                   "separate_fits_s": round(separate_s, 4),
                   "iterations": max(bank.iterations), "evaluations": bank.evaluations,
                   "max_final_abs_grad_log_t": float(bank.final_grad.abs().max())},
        "first_call_s": round(first_call, 3),
        "repeats": args.repeats,
    }
    print(json.dumps(result, indent=1))
    print(f"{'fit':<28}{'seconds':>10}{'iters':>7}{'evals':>7}{'|grad|':>10}", file=sys.stderr)
    s, b = result["single"], result["banked"]
    print(f"{f'{args.n} x {args.classes}':<28}{s['fit_s']:>10.3f}{s['iterations']:>7}"
          f"{s['evaluations']:>7}{s['final_abs_grad_log_t']:>10.1e}", file=sys.stderr)
    print(f"{f'bank {args.bank_n} x {args.members} x {args.classes}':<28}{b['fit_s']:>10.3f}"
          f"{b['iterations']:>7}{b['evaluations']:>7}{b['max_final_abs_grad_log_t']:>10.1e}",
          file=sys.stderr)
    print(f"{f'{args.members} separate fits':<28}{b['separate_fits_s']:>10.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
