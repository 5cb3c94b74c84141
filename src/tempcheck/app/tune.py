"""``tempcheck tune``: the command's own options, the report, and its printed outcome (the CLI
stays thin; the tune itself is :mod:`tempcheck.tune`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import Config, parse_int_list
from ..errors import ConfigError
from ..progress import ConsoleProgress
from ..report.build import build_report, build_tune_page
from ..tune.search import TuneOptions, run_tune
from . import EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The tune options, beside the run options every training command shares."""
    p.add_argument("--objective", default="val_acc",
                   help="val_acc (default), val_nll, ece_ts, robust_acc, corr_acc or weighted")
    p.add_argument("--weights", help="for --objective weighted: e.g. val_acc=1,ece_ts=0.5")
    p.add_argument("--budget", type=float, default=0.35,
                   help="member-epochs allowed, as a fraction of the full sweep's (0.35)")
    p.add_argument("--reduction", type=float, default=2.0,
                   help="each rung keeps 1/reduction of the members (2)")
    p.add_argument("--rungs", help="explicit plan epoch:keep,... (e.g. 4:4,8:2,16:1)")
    p.add_argument("--rule", default="catchup", help="catchup (default) or raw")
    p.add_argument("--protect", type=int, default=1,
                   help="slow starters kept beyond the best at a rung (1)")
    p.add_argument("--smooth", type=int, default=1, help="epochs averaged at a rung (1)")
    p.add_argument("--tie", type=float, help="scores closer than this are ties (default: "
                                             "one validation example for accuracies)")
    p.add_argument("--finish", action="store_true",
                   help="train the last survivor to the last epoch")
    p.add_argument("--sample", type=int, default=200,
                   help="validation images for robust_acc / corr_acc (200)")
    p.add_argument("--retrain-seeds", help="retrain the chosen τ with these seeds, e.g. 0,1,2")
    p.add_argument("--json", dest="json_out", help="write the outcome as JSON to this file")


def options_from_args(args: argparse.Namespace) -> TuneOptions:
    retrain = tuple(parse_int_list(args.retrain_seeds, "--retrain-seeds")) \
        if args.retrain_seeds else ()
    opts = TuneOptions(objective=args.objective, weights=args.weights, budget=args.budget,
                       reduction=args.reduction, rungs=args.rungs, rule=args.rule,
                       protect=args.protect, smooth=args.smooth, tie=args.tie,
                       finish=args.finish, sample=args.sample, retrain_seeds=retrain)
    opts.validate()
    return opts


def check_json_target(path: str | None) -> None:
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"--json {path} is a folder; give a file name")
    if not target.parent.exists() and str(target.parent) not in ("", "."):
        raise ConfigError(f"--json {path}: folder {target.parent} does not exist")


def tune_command(args: argparse.Namespace, config: Config) -> int:
    """Run the tune described by ``args`` and ``config``, build its report (the sweep's report
    when the tune ran beside a sweep, else a page of its own) and print the outcome."""
    from ..atomic import atomic_write_json

    options = options_from_args(args)
    check_json_target(args.json_out)
    outcome = run_tune(config, args.out, options, resume=args.resume,
                       progress=ConsoleProgress())
    root = Path(args.out)
    report = build_report(root)[0] if (root / "sweep.json").is_file() else \
        build_tune_page(root)
    print(format_outcome(outcome))
    print(f"report:  {Path(report).resolve()}")
    if args.json_out:
        atomic_write_json(Path(args.json_out), {k: v for k, v in outcome.items()
                                                if k != "config"})
        print(f"json:    {args.json_out}")
    return EXIT_OK


def format_outcome(outcome: dict) -> str:
    lines = [f"chosen τ = {outcome['temperature']:g} ({outcome['objective']} "
             f"{outcome['value']:.4g}); votes {json.dumps(outcome['votes'])}",
             f"cost: {outcome['member_epochs']} member-epochs = "
             f"{100 * outcome['budget_fraction']:.1f}% of the full sweep's "
             f"{outcome['full_sweep_member_epochs']}; {outcome['wall_seconds']:.0f} s"]
    for s in outcome["seeds"]:
        drops = ", ".join(f"τ {d['temperature']:g}@{d['epoch']}" for d in s["dropped"])
        lines.append(f"  seed {s['seed']}: τ = {s['temperatures'][s['chosen']]:g} after "
                     f"{s['epoch']} epochs; dropped {drops or 'none'}")
    full = outcome.get("full_sweep")
    if full:
        lines.append(f"full sweep in this folder: best τ = {full['best_temperature']:g} "
                     f"({100 * full['best_test_acc']:.2f}%), chosen "
                     f"{100 * full['chosen_test_acc']:.2f}% (regret "
                     f"{100 * full['regret']:.2f} points)")
    return "\n".join(lines)
