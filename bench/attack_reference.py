"""How far a run's adversarial worst case is from full-strength APGD on the same examples.

For every group of a finished sweep folder, loads the bank from ``checkpoint.pt``, takes the
exact test images the ``adversarial`` evaluation attacked (``adversarial/sample_index``) and its
per-example worst case (``adversarial/robust_worst``), and runs, each on every example,
APGD-CE (CE at τ), APGD-DLR and APGD-T (targeted DLR, 9 targets or C − 1), 100 steps, as in
AutoAttack's standard version. Per member it reports the suite's worst case, each reference
attack alone, and the per-example best of the three (``reference_min``).

    .venv/bin/python bench/attack_reference.py RUN_DIR [--targets 9] [--steps 100] [--group G]

Prints one JSON object on stdout and a human table on stderr. Slow (minutes per group on a
CPU); never run as a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tempcheck.attacks import APGD, APGDT
from tempcheck.attacks.suite import attack_batches
from tempcheck.config import from_dict
from tempcheck.data.base import as_float
from tempcheck.recipe import load_data, model_kwargs
from tempcheck.registry import create_model


def _group_bank(gdir: Path, config, data):
    saved = json.loads((gdir / "config.json").read_text())
    members = saved["group"]["members"]
    state = torch.load(gdir / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]
    state = {k.removeprefix("_orig_mod."): v for k, v in state.items()}
    model = create_model(config.model.name, members=len(members),
                         seeds=[int(m["seed"]) for m in members],
                         head_init_scale=config.model.head_init_scale,
                         **model_kwargs(config, data))
    model.load_state_dict(state)
    return model.eval(), members


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--targets", type=int, default=9)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=73, help="examples per attack batch")
    parser.add_argument("--group", default=None, help="only this group (e.g. seed0)")
    args = parser.parse_args()
    root = Path(args.run_dir)
    rows = []
    for gdir in sorted((root / "groups").glob("*/")):
        if not (gdir / "done.json").is_file() or args.group not in (None, gdir.name):
            continue
        saved = json.loads((gdir / "config.json").read_text())
        config = from_dict(saved["config"])
        data = load_data(config)
        model, members = _group_bank(gdir, config, data)
        arrays = np.load(gdir / "arrays.npz")
        info = json.loads((gdir / "eval.json").read_text())["adversarial"]
        idx = torch.from_numpy(arrays["adversarial/sample_index"])
        worst = torch.from_numpy(arrays["adversarial/robust_worst"])
        x, y = as_float(data.test.x[idx]), data.test.y[idx]
        tau = torch.tensor([float(m["temperature"]) for m in members])
        with torch.no_grad():
            correct = model(x).argmax(-1) == y[:, None]
        eps = float(info["eps"])
        refs = {
            "apgd_ce": APGD(model, eps=eps, steps=args.steps, loss="ce_tau", temperatures=tau,
                            seed=101),
            "apgd_dlr": APGD(model, eps=eps, steps=args.steps, loss="dlr", seed=102),
            "apgd_t": APGDT(model, eps=eps, steps=args.steps, n_target_classes=args.targets,
                            seed=103),
        }
        robust, seconds = {}, {}
        for name, attack in refs.items():
            t0 = time.perf_counter()
            ok, _ = attack_batches(attack, model, x, y, args.batch, "cpu")
            robust[name] = correct & ok
            seconds[name] = round(time.perf_counter() - t0, 2)
        best = robust["apgd_ce"] & robust["apgd_dlr"] & robust["apgd_t"]
        for k, m in enumerate(members):
            row = {"group": gdir.name, "member": k, "temperature": float(m["temperature"]),
                   "seed": int(m["seed"]), "suite": info["suite"],
                   "suite_worst": float(worst[:, k].float().mean()),
                   **{n: float(r[:, k].float().mean()) for n, r in robust.items()},
                   "reference_min": float(best[:, k].float().mean())}
            row["excess"] = round(row["suite_worst"] - row["reference_min"], 4)
            rows.append(row)
            print(f"{gdir.name} τ={row['temperature']:<7g} suite worst {row['suite_worst']:.3f}"
                  f"  APGD-T {row['apgd_t']:.3f}  APGD-CE {row['apgd_ce']:.3f}  APGD-DLR "
                  f"{row['apgd_dlr']:.3f}  best of three {row['reference_min']:.3f}"
                  f"  excess {row['excess']:+.3f}", file=sys.stderr, flush=True)
        print(f"{gdir.name}: reference seconds {seconds}; suite seconds {info.get('seconds')}",
              file=sys.stderr, flush=True)
    excess = [r["excess"] for r in rows]
    print(json.dumps({"bench": "attack_reference", "run_dir": str(root), "steps": args.steps,
                      "targets": args.targets, "members": rows,
                      "max_excess": max(excess) if excess else None,
                      "mean_excess": float(np.mean(excess)) if excess else None}))


if __name__ == "__main__":
    main()
