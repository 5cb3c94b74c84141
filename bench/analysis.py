"""Wall time of the analysis evaluations (gradients, logits, features) on one digits bank, and
of the early-learning dynamics study (analysis/dynamics.py).

Prints one JSON object (and a human summary on stderr). E.g.

    .venv/bin/python bench/analysis.py --model mlp
    .venv/bin/python bench/analysis.py --model cnn --skip-dynamics
    .venv/bin/python bench/analysis.py --model mlp --skip-evals --hessian

The bank has ``--members`` members at τ spread over 0.1 … 100 and is trained for
``--train-epochs`` epochs first, so the feature maps are those of a (briefly) trained model.
Evaluation times are per group (one bank); the dynamics study runs with its defaults
(64 examples, β = 0.5, 1, 2, 4, 50 steps, 20-step stability scan) on one torch thread.
Never run as a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

from tempcheck.analysis import features, gradients, logits
from tempcheck.analysis.dynamics import run_dynamics_study
from tempcheck.eval.base import EvalContext
from tempcheck.registry import create_model, load_dataset
from tempcheck.train.loop import FitOptions, fit


def time_evals(model_name: str, members: int, epochs: int) -> dict:
    data = load_dataset("digits")
    taus = torch.logspace(-1, 2, members)
    model = create_model(model_name, members=members, seeds=list(range(members)),
                         **data.model_kwargs())
    t0 = time.perf_counter()
    fit(model, data, temperatures=taus, lrs=torch.full((members,), 0.05),
        options=FitOptions(epochs=epochs))
    out = {"train_seconds": round(time.perf_counter() - t0, 2), "evals": {}}
    model.eval()
    cache: dict = {}
    for name, fn in (("gradients", gradients.run), ("logits", logits.run),
                     ("features", features.run)):
        ctx = EvalContext(model=model, data=data, temperatures=taus, device=torch.device("cpu"),
                          cache=cache)
        t0 = time.perf_counter()
        result = fn(ctx)
        out["evals"][name] = {"seconds": round(time.perf_counter() - t0, 3),
                              "columns": {k: [round(v, 4) for v in vals]
                                          for k, vals in result.columns.items()}}
    return out


def time_dynamics(model_name: str, hessian: bool) -> dict:
    data = load_dataset("digits")
    t0 = time.perf_counter()
    result = run_dynamics_study(model_name, data, scan_hessian=hessian)
    info = result["info"]
    return {"seconds": round(time.perf_counter() - t0, 2), "parts": info["seconds"],
            "eta_beta2": info["eta_beta2"], "agreement": info["agreement"],
            "runs": [{k: r[k] for k in ("beta", "eta", "max_rel_loss_error", "horizon_1pct",
                                        "horizon_5pct")} for r in info["runs"]],
            "collapse": info["collapse"], "stability": {
                k: info["stability"][k] for k in ("betas", "eta_max", "eta_edge", "eta_hessian",
                                                  "fit", "edge_fit", "hessian_fit")}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp")
    p.add_argument("--members", type=int, default=7)
    p.add_argument("--train-epochs", type=int, default=3)
    p.add_argument("--skip-evals", action="store_true")
    p.add_argument("--skip-dynamics", action="store_true")
    p.add_argument("--hessian", action="store_true", help="full-Hessian edges in the scan")
    args = p.parse_args()
    out = {"model": args.model, "machine": {"platform": platform.platform(),
                                            "cpus": os.cpu_count(),
                                            "torch_threads": torch.get_num_threads(),
                                            "load_avg": os.getloadavg()}}
    if not args.skip_evals:
        out["evaluations"] = time_evals(args.model, args.members, args.train_epochs)
        for name, ev in out["evaluations"]["evals"].items():
            print(f"{name:10s} {ev['seconds']:7.2f} s per group of {args.members}",
                  file=sys.stderr)
    if not args.skip_dynamics:
        out["dynamics"] = time_dynamics(args.model, args.hessian)
        d = out["dynamics"]
        print(f"dynamics   {d['seconds']:7.2f} s; stability slope "
              f"{d['stability']['fit']['slope']} ± {d['stability']['fit']['slope_se']}",
              file=sys.stderr)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
