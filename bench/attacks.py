"""Attack cost on a banked model: PGD-20 against 21 bare forward+backward passes, and per attack.

A K = 8 ``cnn`` bank on digits (trained for a few epochs so that attacks face a real model) is
attacked on a fixed test batch. PGD-20 does 20 forward+backward passes plus one forward for the
last iterate; its overhead is its wall time over that of 21 forward+backward passes of the same
bank on the same per-member batch (goal: below 15%). Also timed: every attack on its own, and
the whole robustness evaluation (200 images) with the cheap ``quick`` suite and with the default
``auto`` suite (APGD-CE, APGD-T and Square only on what is still robust), with each suite's
mean worst-case robust accuracy over the members.

    .venv/bin/python bench/attacks.py [--members 8] [--batch 360] [--repeats 3] [--device cpu]

Prints one JSON object on stdout and a human table on stderr. Never run as a test.
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

from tempcheck.attacks import APGD, APGDT, FGSM, PGD, Square, attack_loss, per_member
from tempcheck.eval.base import EvalContext
from tempcheck.eval.robustness import run as robustness_run
from tempcheck.registry import create_model, load_dataset
from tempcheck.train.loop import FitOptions, fit


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up (``repeats = 0``:
    one run, no warm-up)."""
    if repeats == 0:
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        return time.perf_counter() - t0
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--batch", type=int, default=360, help="test images attacked")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)

    data = load_dataset("digits")
    k = args.members
    taus = torch.logspace(-1, 1, k)
    model = create_model("cnn", members=k, seeds=list(range(k)), **data.model_kwargs())
    fit(model, data, temperatures=taus.tolist(), lrs=[0.05] * k,
        options=FitOptions(epochs=args.epochs, eval_every=10**9))
    model = model.to(device).eval()
    x = data.test.x[: args.batch].to(device)
    y = data.test.y[: args.batch].to(device)
    xk = per_member(x, k)

    def bare_passes(n: int = 21) -> None:
        for _ in range(n):
            xi = xk.detach().requires_grad_(True)
            loss = attack_loss("ce_tau", model(xi), y, temperatures=taus)
            torch.autograd.grad(loss.sum(), xi)

    eps = args.eps
    attacks = {
        "fgsm": FGSM(model, eps=eps, temperatures=taus),
        **{f"pgd_{loss}": PGD(model, eps=eps, loss=loss, temperatures=taus)
           for loss in ("ce_tau", "ce_raw", "margin", "dlr")},
        "apgd_ce": APGD(model, eps=eps, temperatures=taus),
        "apgd_dlr": APGD(model, eps=eps, loss="dlr"),
        "apgd_t": APGDT(model, eps=eps),
        "apgd_t5": APGDT(model, eps=eps, n_target_classes=5),
        "square": Square(model, eps=eps),
    }
    reference = _timed(bare_passes, device, args.repeats)
    pgd20 = _timed(lambda: attacks["pgd_ce_tau"](x, y), device, args.repeats)
    print(f"PGD-20 {pgd20:.3f} s vs 21 fwd+bwd {reference:.3f} s: overhead "
          f"{100 * (pgd20 / reference - 1):+.1f}%", file=sys.stderr)
    suites = {}
    for suite in ("quick", "auto"):
        ctx = EvalContext(model=model, data=data, temperatures=taus, device=device,
                          options={"suite": suite, "n_examples": 200})
        t0 = time.perf_counter()
        result = robustness_run(ctx)
        _sync(device)
        suites[suite] = {
            "seconds": round(time.perf_counter() - t0, 2),
            "mean_worst_robust_acc": round(statistics.mean(result.columns["robust_acc_worst"]), 4),
            "seconds_per_attack": result.info["seconds"],
        }
        print(f"{suite} robustness evaluation (200 images, K={k}): "
              f"{suites[suite]['seconds']:.2f} s, mean worst case "
              f"{suites[suite]['mean_worst_robust_acc']:.3f}", file=sys.stderr)
    per_attack = {}
    for name, attack in attacks.items():  # once each: APGD-T and Square take minutes on a CPU
        per_attack[name] = round(_timed(lambda a=attack: a(x, y), device, 0), 3)
        print(f"  {name:<12} {per_attack[name]:8.3f} s", file=sys.stderr)

    result = {
        "bench": "attacks", "model": "cnn", "dataset": "digits", "members": k,
        "batch": int(x.shape[0]), "eps": eps, "device": str(device),
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
        "pgd20_seconds": round(pgd20, 4), "reference_21_fwd_bwd_seconds": round(reference, 4),
        "pgd20_overhead": round(pgd20 / reference - 1.0, 4),
        "per_attack_seconds": per_attack,
        "quick_eval_seconds_200_images": suites["quick"]["seconds"],
        "suite_eval_200_images": suites,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
