"""tempcheck tune against Ray Tune's ASHA on the same grid, model and budget; prints JSON.

For each seed: the full sweep (every τ trained for all epochs, in one bank), ``tempcheck tune``
(one bank, rungs, pruning) and ASHA (one Ray trial per τ, each a K = 1 member trained with the
same fit loop and schedule, reporting validation accuracy every epoch; grace period = the tune's
first rung, reduction factor = the tune's). Regret is the test accuracy of the best τ of the full
sweep (that seed, and the mean over seeds) minus the test accuracy of the chosen τ.

    python bench/tune_vs_asha.py --config configs/digits_cnn.yaml --seeds 0,1,2 [--cpus 2]

Wall times are measured in this one process, one after another, with the same thread count;
ASHA runs its trials ``--cpus`` at a time (Ray actors), tempcheck runs one bank at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def asha_trial(params: dict) -> None:
    """One ASHA trial: a K = 1 member at ``params['tau']`` reporting val accuracy per epoch."""
    from ray import tune as rtune

    from tempcheck import recipe
    from tempcheck.config import from_dict
    from tempcheck.train.loop import fit

    torch.set_num_threads(1)
    config = from_dict(params["config"])
    data = recipe.load_data(config)
    device = torch.device("cpu")
    model = recipe.build_model(config, data, [params["seed"]])
    taus = torch.tensor([params["tau"]])

    def on_end(epoch, snapshot):
        rec = snapshot()["history"]["records"][-1]
        rtune.report({"val_acc": rec["val_acc"][0], "test_acc": rec["test_acc"][0],
                      "epoch": epoch + 1})

    fit(model, data, temperatures=taus, lrs=torch.tensor([params["lr"]]),
        options=recipe.fit_options(config, device, data), seed=params["seed"],
        augment=recipe.make_augment(config, data), on_epoch_end=on_end)


def run_asha(config, seed: int, taus, lr: float, grace: int, reduction: float, cpus: int) -> dict:
    import ray
    from ray import tune as rtune
    from ray.tune.schedulers import ASHAScheduler

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if not ray.is_initialized():
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    scheduler = ASHAScheduler(time_attr="epoch", metric="val_acc", mode="max",
                              max_t=config.train.epochs, grace_period=grace,
                              reduction_factor=reduction)
    space = {"tau": rtune.grid_search([float(t) for t in taus]), "seed": seed, "lr": lr,
             "config": config.to_dict()}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as storage:
        tuner = rtune.Tuner(
            rtune.with_resources(asha_trial, {"cpu": 1}), param_space=space,
            tune_config=rtune.TuneConfig(scheduler=scheduler, num_samples=1),
            run_config=rtune.RunConfig(storage_path=storage, name=f"asha-seed{seed}",
                                       verbose=0))
        results = tuner.fit()
        wall = time.perf_counter() - t0
        epochs_run, best_tau, best_val = 0, None, -1.0
        for r in results:
            df = r.metrics_dataframe
            epochs_run += int(df["epoch"].max())
            # ASHA's answer: the best validation accuracy among the trials it let finish
            if int(df["epoch"].max()) == config.train.epochs and r.metrics["val_acc"] > best_val:
                best_val, best_tau = float(r.metrics["val_acc"]), float(r.config["tau"])
    return {"temperature": best_tau, "member_epochs": epochs_run, "wall_seconds": round(wall, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/digits_cnn.yaml")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="keep the run folders here")
    parser.add_argument("--skip-asha", action="store_true")
    parser.add_argument("--json", dest="json_out", help="also write the JSON to this file")
    args, overrides = parser.parse_known_args()
    torch.set_num_threads(args.threads)
    from tempcheck.config import load_config
    from tempcheck.sweep.run import run_sweep
    from tempcheck.tune import TuneOptions, run_tune

    seeds = [int(s) for s in args.seeds.split(",")]
    base = Path(args.out or tempfile.mkdtemp(prefix="tune-bench-"))
    config = load_config(args.config, ["eval.run=[none]", f"sweep.seeds={seeds}",
                                       *[o.lstrip("-") for o in overrides]])
    taus = list(config.sweep.temperatures)
    sweep_dir = base / "sweep"
    if (sweep_dir / "results.csv").is_file():  # reuse a finished sweep (and tune) in --out
        import csv

        with open(sweep_dir / "results.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    else:
        rows, _ = run_sweep(config, sweep_dir)
    # training time of the sweep's banks (what the tune's wall time compares with)
    sweep_train = sum({r["group"]: float(r["train_seconds"]) for r in rows}.values())
    test = {(float(r["temperature"]), int(r["seed"])): float(r["test_acc"]) for r in rows}
    mean = {t: float(np.mean([test[(t, s)] for s in seeds])) for t in taus}
    options = TuneOptions()
    if (sweep_dir / "tune" / "tune.json").is_file():
        outcome = json.loads((sweep_dir / "tune" / "tune.json").read_text())
    else:
        outcome = run_tune(config, sweep_dir, options)
    tune_wall = outcome["wall_seconds"]
    report = {"config": args.config, "seeds": seeds, "temperatures": taus,
              "machine": {"cpus": os.cpu_count(), "threads": args.threads},
              "full_sweep": {"member_epochs": len(taus) * config.train.epochs * len(seeds),
                             "train_seconds": round(sweep_train, 2), "mean_test_acc": mean},
              "tempcheck_tune": {"temperature": outcome["temperature"],
                                 "member_epochs": outcome["member_epochs"],
                                 "wall_seconds": round(tune_wall, 2), "per_seed": {}}}
    for s in outcome["seeds"]:
        tau = s["temperatures"][s["chosen"]]
        report["tempcheck_tune"]["per_seed"][s["seed"]] = {
            "temperature": tau,
            "seed_regret": max(test[(t, s["seed"])] for t in taus) - test[(tau, s["seed"])],
            "mean_regret": max(mean.values()) - mean[tau], "member_epochs": s["member_epochs"]}
    if not args.skip_asha:
        plan = outcome["plan"]
        asha = {}
        for seed in seeds:
            a = run_asha(config, seed, taus, config.train.lr, plan[0]["epoch"],
                         options.reduction, args.cpus)
            tau = a["temperature"]
            a.update(seed_regret=max(test[(t, seed)] for t in taus) - test[(tau, seed)],
                     mean_regret=max(mean.values()) - mean[tau])
            asha[seed] = a
        report["asha"] = asha
    text = json.dumps(report, indent=1)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    # Ray Tune replaces sys.stdout while it runs: print to the real one
    print(text, file=sys.__stdout__, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
