"""Vector scaling against temperature scaling on a finished run's own members.

Rebuilds every group's bank from its checkpoint, computes validation and test logits in eval
mode, fits temperature scaling and vector scaling (MAP with ``--prior-sd``; ``inf`` for plain
maximum likelihood) per member, and prints one JSON object: per member τ, seed, test NLL and
accuracy after each scaler, whether vector scaling converged, its iterations, and the fit's
wall seconds per bank. E.g., after ``make demo``:

    .venv/bin/python bench/vector_scaling.py runs/demo-...                  # the default prior
    .venv/bin/python bench/vector_scaling.py runs/demo-... --prior-sd inf   # plain ML

Never run as a test.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from tempcheck import metrics
from tempcheck.config import from_dict
from tempcheck.eval.scaling import DEFAULT_PRIOR_SD, fit_temperature, fit_vector_scaling
from tempcheck.sweep.group import build_model, load_data
from tempcheck.sweep.plan import plan_groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished sweep folder (groups/*/checkpoint.pt)")
    parser.add_argument("--prior-sd", type=float, default=DEFAULT_PRIOR_SD)
    args = parser.parse_args()
    sweep = json.loads((args.run / "sweep.json").read_text(encoding="utf-8"))
    cfg = from_dict(sweep["config"])
    data = load_data(cfg)
    members, seconds = [], []
    for group in plan_groups(cfg):
        model = build_model(cfg, data, group)
        state = torch.load(args.run / "groups" / group.name / "checkpoint.pt", weights_only=True)
        model.load_state_dict(state.get("model", state))
        model.eval()
        with torch.no_grad():
            z_val, z_test = model(data.val.x).double(), model(data.test.x).double()
        ts = fit_temperature(z_val, data.val.y)
        start = time.perf_counter()
        vs = fit_vector_scaling(z_val, data.val.y, init_temperature=ts.temperature,
                                prior_sd=args.prior_sd)
        seconds.append(round(time.perf_counter() - start, 3))
        z_ts = z_test / ts.temperature.view(1, -1, 1)
        z_vs = z_test * vs.weight + vs.bias
        y = data.test.y
        for k, m in enumerate(group.members):
            members.append({
                "group": group.name, "temperature": m.temperature, "seed": m.seed,
                "test_nll_ts": float(metrics.nll(z_ts[:, k], y)),
                "test_nll_vs": float(metrics.nll(z_vs[:, k], y)),
                "test_acc": float(metrics.accuracy(z_test[:, k], y)),
                "test_acc_vs": float(metrics.accuracy(z_vs[:, k], y)),
                "vs_converged": vs.converged[k], "vs_iterations": vs.iterations,
                "vs_final_grad": float(vs.final_grad[k]),
            })
    print(json.dumps({"benchmark": "vector_scaling", "run": str(args.run),
                      "prior_sd": None if math.isinf(args.prior_sd) else args.prior_sd,
                      "n_val": int(data.val.y.shape[0]), "fit_seconds_per_bank": seconds,
                      "converged": sum(m["vs_converged"] for m in members),
                      "members": members}, indent=1))


if __name__ == "__main__":
    main()
