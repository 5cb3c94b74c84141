"""``tempcheck <verb>``: the command line. It only parses arguments: each verb calls one function
of the application layer (``tempcheck.app``), which checks, runs and prints.

Exit status: 0 done (diverged / stalled members are results); 1 part of the run failed for good
(listed, everything else written); 2 bad input — one line ``error: ...`` on stderr, no
traceback, nothing written; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from .errors import ConfigError, TempcheckError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other user error
        raise ConfigError(message)


def _add_run_options(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--config", help="YAML recipe (e.g. configs/digits_cnn.yaml)")
    p.add_argument("--temperatures", help="τ list '0.1,1,10' or log range '0.1:100:7'")
    p.add_argument("--betas", help="β = 1/τ list, instead of --temperatures")
    p.add_argument("--seeds", help="seeds '0,1,2'")
    p.add_argument("--lrs", help="grid of base learning rates '0.01,0.05'")
    p.add_argument("--lr-exponent", type=float, help="a in η = η̃·τ^a (train.lr_temperature_exponent)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--model", help="model family (see `tempcheck list`)")
    p.add_argument("--dataset", help="dataset (see `tempcheck list`)")
    p.add_argument("--data-dir", help="folder holding the dataset files")
    p.add_argument("--corruptions-dir", help="released CIFAR-10-C / Tiny-ImageNet-C files")
    p.add_argument("--download", action="store_true", help="allow downloading the dataset")
    p.add_argument("--out", default=default_out, help=f"run folder (default {default_out})")
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out")
    p.add_argument("--max-bank", help="members per bank: auto (default: the device's rule, "
                   "recorded in sweep.json), all (one bank per seed) or N (1 = all alone)")
    p.add_argument("--threads", type=int, help="torch intra-op threads while the sweep runs "
                   "(default: torch's own choice; 1 on a loaded or shared machine)")
    p.add_argument("--eval", help="evaluations to run: 'all' (default), 'none' or a list")
    p.add_argument("--adv-train", choices=["none", "pgd", "trades"], help="adversarial training")
    p.add_argument("--backend", choices=["local", "ray"])
    p.add_argument("--ray-address", help="address of an existing Ray cluster")
    p.add_argument("--gpus-per-bank", type=float)
    p.add_argument("--no-report", action="store_true", help="skip building the report")
    p.add_argument("--tracker", help="also log each member per epoch to 'tensorboard', "
                                     "'mlflow' or both 'tensorboard,mlflow' (optional extras)")
    p.add_argument("overrides", nargs="*", help="dotted overrides: train.lr=0.05 ...")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tempcheck", description="Measure what the softmax temperature does. "
                                                   "`tempcheck --version` prints the version.")
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    _add_run_options(sub.add_parser("sweep", help="train and evaluate a temperature sweep"),
                     "runs/sweep")
    p = sub.add_parser("train", help="train one bank (a sweep with one seed)")
    _add_run_options(p, "runs/train")
    p = sub.add_parser("tune", help="choose τ with one bank per seed, dropping the worse "
                                    "members at rungs (a fraction of a sweep's cost)")
    _add_run_options(p, "runs/tune")
    from .app.tune import add_arguments as add_tune_arguments

    add_tune_arguments(p)
    p = sub.add_parser("report", help="(re)build report.html and report.md of a run folder")
    p.add_argument("out")
    sub.add_parser("list", help="list models, datasets and evaluations")
    p = sub.add_parser("dynamics", help="early-learning theory vs measurement (Agarwala et "
                                        "al.): kernel, linearised curves, collapse, stability")
    p.add_argument("--model", default="mlp", help="model family, or 'linear'")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir")
    p.add_argument("--n-examples", type=int, default=64)
    p.add_argument("--betas", default="0.5,1,2,4", help="β values of the matched runs")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--head-init-scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True,
                   help="a sweep's run folder (the study joins its report) or a new folder")
    p = sub.add_parser("corrupt", help="write a corrupted copy of a dataset split in the "
                                       "CIFAR-10-C layout (<corruption>.npy + labels.npy)")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--corruptions", default="all",
                   help="all, benchmark, extras, a family (noise, blur, ...) or names a,b,c")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", default="auto",
                   help="parameter table: auto (nearest standard size; the choice is printed), "
                        "32 | cifar, 64 | tiny, 224 | imagenet")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", required=True)
    p = sub.add_parser("distill", help="distil one member of a sweep into a student bank, "
                                       "one member per distillation temperature T")
    p.add_argument("--teacher", required=True, help="run folder of the teacher's sweep")
    p.add_argument("--teacher-temperature", type=float, help="pick the member trained at this τ")
    p.add_argument("--teacher-seed", type=int, help="pick the member with this seed")
    p.add_argument("--teacher-group", help="pick the member from this group")
    p.add_argument("--teacher-logits", choices=["tempered", "raw"], default="tempered",
                   help="distil softmax(z/τ_teacher) (default) or the raw logits")
    p.add_argument("--temperatures", default="1,2,4,8", help="distillation temperatures T")
    p.add_argument("--alpha", type=float, default=0.1, help="weight of the label loss")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--student-seed", type=int, default=0)
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the label-only baseline member")
    p.add_argument("--data-dir")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", required=True)
    p = sub.add_parser("compare", help="several sweeps side by side, aligned by τ, with "
                                       "differences and whether they exceed the seed spread")
    p.add_argument("runs", nargs="+", help="run folders; the first is the reference")
    p.add_argument("--labels", help="names of the runs 'plain,smoothing' (default: folder names)")
    p.add_argument("--out", required=True, help="new folder for the comparison")
    from .export import add_export_parser
    from .external import add_evaluate_parser

    add_export_parser(sub)
    add_evaluate_parser(sub)
    p = sub.add_parser("calibrate", help="fit temperature scaling to saved logits (.npz / .npy)")
    p.add_argument("logits", help=".npz with logits, labels (optional val_logits, val_labels), "
                                  "an .npy logits file with --labels, or a sweep's run folder "
                                  "(with --temperature / --member-seed to pick a member)")
    p.add_argument("--temperature", type=float, help="run folder: the member trained at this τ")
    p.add_argument("--member-seed", type=int, help="run folder: the member with this seed")
    p.add_argument("--labels", help=".npy labels for an .npy logits file")
    p.add_argument("--seed", type=int, default=0, help="seed of the fit/eval halves")
    p.add_argument("--bins", type=int, default=15, help="ECE bins")
    p.add_argument("--json", dest="json_out", help="write the results as JSON to this file")
    p.add_argument("--png", help="save a reliability diagram (before/after) to this PNG")
    return parser


def _split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Pull ``--section.key=value`` options out of argv (argparse cannot declare them)."""
    rest, overrides = [], []
    for a in argv:
        if a.startswith("--") and "." in a.split("=", 1)[0]:
            overrides.append(a[2:])
        else:
            rest.append(a)
    return rest, overrides


def config_from_args(args: argparse.Namespace, overrides: list[str], verb: str):
    """The Config of a sweep / train command: YAML, then dotted overrides, then the flags (taken
    as given: a ``--data-dir`` with quotes or colons stays that path)."""
    from .config import load_config, parse_temperatures

    for o in args.overrides:
        if "=" not in o:
            raise ConfigError(f"unexpected argument {o!r} (overrides look like train.lr=0.05)")
    values: dict = {}
    if verb == "train" and args.seeds is None:
        values["sweep.seeds"] = [0]
    if args.temperatures is not None and args.betas is not None:
        raise ConfigError("give --temperatures or --betas, not both")
    if args.temperatures is not None:
        values["sweep.temperatures"] = args.temperatures
    if args.betas is not None:
        values["sweep.temperatures"] = [1.0 / b for b in parse_temperatures(args.betas)]
    flags = {
        "seeds": "sweep.seeds", "epochs": "train.epochs", "model": "model.name",
        "dataset": "data.name", "data_dir": "data.data_dir", "device": "train.device",
        "max_bank": "sweep.max_bank", "adv_train": "train.adv_train", "threads": "train.threads",
        "backend": "sweep.backend", "ray_address": "sweep.ray_address",
        "lr_exponent": "train.lr_temperature_exponent", "gpus_per_bank": "sweep.gpus_per_bank",
        "corruptions_dir": "eval.corruption.corruptions_dir", "lrs": "sweep.lrs",
        "eval": "eval.run",
    }
    for attr, key in flags.items():
        value = getattr(args, attr)
        if value is not None:
            values[key] = value
    if args.tracker is not None:
        values["sweep.trackers"] = [t.strip() for t in args.tracker.split(",") if t.strip()]
    if args.download:
        values["data.download"] = True
    return load_config(args.config, [*overrides, *args.overrides], values)


def _sweep(args, overrides) -> int:
    from .app.sweep import sweep_command

    config = config_from_args(args, overrides, args.verb)
    return sweep_command(config, args.out, resume=args.resume, report=not args.no_report)


def _tune(args, overrides) -> int:
    from .app.tune import tune_command

    return tune_command(args, config_from_args(args, overrides, args.verb))


def _report(args, overrides) -> int:
    from .app.listing import report_command

    return report_command(args.out)


def _list(args, overrides) -> int:
    from .app.listing import list_command

    return list_command()


def _compare(args, overrides) -> int:
    from .app.listing import compare_command

    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    return compare_command(args.runs, args.out, labels=labels)


def _calibrate(args, overrides) -> int:
    from .app.calibrate import calibrate_command

    return calibrate_command(args.logits, labels=args.labels, seed=args.seed, bins=args.bins,
                             json_out=args.json_out, png=args.png,
                             temperature=args.temperature, member_seed=args.member_seed)


def _dynamics(args, overrides) -> int:
    from .app.dynamics import dynamics_command

    return dynamics_command(out=args.out, model=args.model, dataset=args.dataset,
                            data_dir=args.data_dir, n_examples=args.n_examples,
                            betas=args.betas, steps=args.steps,
                            head_init_scale=args.head_init_scale, seed=args.seed)


def _corrupt(args, overrides) -> int:
    from .app.corrupt import corrupt_command

    return corrupt_command(out=args.out, dataset=args.dataset, data_dir=args.data_dir,
                           split=args.split, corruptions=args.corruptions, seed=args.seed,
                           device=args.device, table=args.table)


def _distill(args, overrides) -> int:
    from .app.distill import distill_command
    from .config import parse_temperatures

    return distill_command(
        teacher=args.teacher, out=args.out, teacher_temperature=args.teacher_temperature,
        teacher_seed=args.teacher_seed, teacher_group=args.teacher_group,
        temperatures=parse_temperatures(args.temperatures), alpha=args.alpha,
        epochs=args.epochs, lr=args.lr, student_seed=args.student_seed,
        baseline=not args.no_baseline, device=args.device, data_dir=args.data_dir,
        teacher_logits=args.teacher_logits)


def _export(args, overrides) -> int:
    from .export import cmd_export

    return cmd_export(args)


def _evaluate(args, overrides) -> int:
    from .external import cmd_evaluate

    return cmd_evaluate(args, overrides)


COMMANDS = {"sweep": _sweep, "train": _sweep, "report": _report, "list": _list,
            "compare": _compare,
            "calibrate": _calibrate, "dynamics": _dynamics, "corrupt": _corrupt,
            "distill": _distill, "export": _export, "evaluate": _evaluate, "tune": _tune}
TAKES_OVERRIDES = ("sweep", "train", "evaluate", "tune")


def main(argv: list[str] | None = None) -> int:
    from .app import EXIT_INTERRUPTED, EXIT_USAGE

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in (["--version"], ["-V"]):
        from .provenance import version_line

        print(version_line())
        return 0
    try:
        rest, overrides = _split_overrides(argv)
        args = build_parser().parse_args(rest)
        if overrides and args.verb not in TAKES_OVERRIDES:
            raise ConfigError(f"{args.verb} takes no config overrides ({overrides[0]})")
        return COMMANDS[args.verb](args, overrides)
    except TempcheckError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
