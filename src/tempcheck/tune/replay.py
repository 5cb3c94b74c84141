"""Replay the rung rules on a finished sweep's logged learning curves.

Because pruning leaves the survivors exactly where the unpruned bank has them
(``prune.py``), a tune on the same grid, seed and schedule sees, at every rung, the very curves
the full sweep logged in ``groups/<group>/metrics.jsonl``. Replaying a plan on those curves
therefore tells — without training anything — which τ each rule would choose for each seed, what
that choice costs in test accuracy, and how often the first rung's ranking disagrees with the
final one. The live tune breaks ties with the validation NLL after temperature scaling, which a
sweep does not log; the replay breaks them with the logged validation NLL of each member's own
predictive distribution instead (the only difference).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ..errors import RunFolderError
from .rungs import Rung, select


def sweep_curves(run_dir: str | Path, key: str = "val_acc") -> dict[int, dict]:
    """Per seed: ``{"temperatures": [...], "curve": (E, n), "nll": (E, n), "test_acc": (n,)}``
    from a sweep folder (members of a seed's groups joined in plan order)."""
    root = Path(run_dir)
    try:
        sweep = json.loads((root / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise RunFolderError(f"{root} holds no readable sweep.json") from None
    with open(root / "results.csv", newline="", encoding="utf-8") as fh:
        results = {(r["group"], int(r["member"])): r for r in csv.DictReader(fh)}
    seeds: dict[int, dict] = {}
    for g in sweep["groups"]:
        path = root / "groups" / g["name"] / "metrics.jsonl"
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                   if line.strip()]
        rows = [r for r in records if key in r]
        if not rows:
            raise RunFolderError(f"{path} has no per-epoch {key}; the sweep must log it "
                                 "(train.eval_every = 1)")
        entry = seeds.setdefault(int(g["seed"]), {"temperatures": [], "curve": [], "nll": [],
                                                  "test_acc": []})
        entry["temperatures"] += [m["temperature"] for m in g["members"]]
        entry["curve"].append(np.array([[np.nan if v is None else v for v in r[key]]
                                        for r in rows], dtype=float))
        entry["nll"].append(np.array([[np.nan if v is None else v for v in r["val_nll"]]
                                      for r in rows], dtype=float))
        entry["test_acc"] += [float(results[(g["name"], k)]["test_acc"] or "nan")
                              for k in range(len(g["members"]))]
    for entry in seeds.values():
        entry["curve"] = np.concatenate(entry["curve"], axis=1)
        entry["nll"] = np.concatenate(entry["nll"], axis=1)
        entry["test_acc"] = np.array(entry["test_acc"])
    return seeds


def replay_plan(curve: np.ndarray, secondary: np.ndarray, plan: list[Rung], *, rule: str,
                tie: float = 0.0, smooth: int = 1, protect: int = 1) -> dict:
    """Run ``plan`` on logged curves ``(E, n)``; returns the choice, who survived each rung and
    the member-epochs it would have spent."""
    alive = list(range(curve.shape[1]))
    survivors, cost, last = [], 0, 0
    for i, rung in enumerate(plan):
        cost += len(alive) * (rung.epoch - last)
        last = rung.epoch
        nxt = plan[i + 1].epoch if i + 1 < len(plan) else None
        sel = select(curve[: rung.epoch, alive], secondary[: rung.epoch, alive], keep=rung.keep,
                     epoch=rung.epoch, next_epoch=nxt, rule=rule, smooth=smooth, tie=tie,
                     protect=protect)
        alive = [alive[j] for j in sorted(sel.kept)]
        survivors.append(list(alive))
    return {"chosen": alive[0], "survivors": survivors, "member_epochs": cost}


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's τ_a between two score vectors (pairs tied in either count as discordant-free)."""
    n, s = len(a), 0.0
    pairs = 0
    for i in range(n):
        for j in range(i + 1, n):
            pairs += 1
            s += np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    return float(s / pairs) if pairs else float("nan")


def replay(run_dir: str | Path, plan: list[Rung], *, rules=("raw", "catchup"),
           tie: float | None = None, smooth: int = 1, protect: int = 1) -> dict:
    """For every seed of a sweep and every rule: the τ chosen, its test accuracy against the
    best τ of that seed and of the mean over seeds (regret, accuracy fraction), whether the
    final best member survived the first rung, and the first rung's rank agreement with the
    final validation ranking."""
    seeds = sweep_curves(run_dir)
    means: dict[float, list[float]] = {}
    for entry in seeds.values():
        for t, a in zip(entry["temperatures"], entry["test_acc"]):
            means.setdefault(t, []).append(a)
    mean_acc = {t: float(np.nanmean(v)) for t, v in means.items()}
    best_mean = max(mean_acc.values())
    out: dict = {"plan": [r.__dict__ for r in plan], "mean_test_acc": mean_acc, "seeds": {}}
    first = plan[0].epoch
    for seed, entry in sorted(seeds.items()):
        curve, nll, test = entry["curve"], entry["nll"], entry["test_acc"]
        n_val_tie = tie if tie is not None else 0.0
        final_best = int(np.nanargmax(curve[-1]))
        row = {"temperatures": entry["temperatures"],
               "first_rung_kendall": _kendall(curve[first - 1], curve[-1]),
               "first_rung_top1_agrees": int(np.nanargmax(curve[first - 1])) == final_best,
               "rules": {}}
        for rule in rules:
            r = replay_plan(curve, -nll, plan, rule=rule, tie=n_val_tie, smooth=smooth,
                            protect=protect)
            tau = entry["temperatures"][r["chosen"]]
            r.update(temperature=tau, test_acc=float(test[r["chosen"]]),
                     seed_regret=float(np.nanmax(test) - test[r["chosen"]]),
                     mean_regret=float(best_mean - mean_acc[tau]),
                     final_best_survived_first_rung=final_best in r["survivors"][0])
            row["rules"][rule] = r
        out["seeds"][seed] = row
    n = len(out["seeds"])
    out["first_rung_disagrees"] = sum(not s["first_rung_top1_agrees"]
                                      for s in out["seeds"].values()) / max(1, n)
    for rule in rules:
        rs = [s["rules"][rule] for s in out["seeds"].values()]
        out[rule] = {"wrong_by_seed": sum(r["seed_regret"] > 0.003 for r in rs),
                     "wrong_by_mean": sum(r["mean_regret"] > 0.003 for r in rs),
                     "lost_final_best_at_first_rung": sum(not r["final_best_survived_first_rung"]
                                                          for r in rs),
                     "seeds": n}
    return out
