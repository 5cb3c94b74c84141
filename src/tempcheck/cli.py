"""``tempcheck <verb>``: a thin command line over the library.

Every user mistake ends as one line ``error: ...`` on stderr and exit status 2, with no
traceback; nothing already written is damaged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
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
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
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
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
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
    from .config import load_config

    extra: list[str] = []
    if verb == "train" and not args.seeds:
        extra.append("sweep.seeds=[0]")
    if args.temperatures is not None and args.betas is not None:
        raise ConfigError("give --temperatures or --betas, not both")
    if args.temperatures is not None:
        extra.append(f"sweep.temperatures='{args.temperatures}'")
    if args.betas is not None:
        from .config import parse_temperatures

        taus = [1.0 / b for b in parse_temperatures(args.betas)]
        extra.append(f"sweep.temperatures={taus}")
    simple = {
        "seeds": "sweep.seeds", "epochs": "train.epochs", "model": "model.name",
        "dataset": "data.name", "data_dir": "data.data_dir", "device": "train.device",
        "max_bank": "sweep.max_bank", "adv_train": "train.adv_train", "threads": "train.threads",
        "backend": "sweep.backend", "ray_address": "sweep.ray_address",
        "lr_exponent": "train.lr_temperature_exponent", "gpus_per_bank": "sweep.gpus_per_bank",
        "corruptions_dir": "eval.corruption.corruptions_dir",
    }
    for attr, key in simple.items():
        value = getattr(args, attr)
        if value is not None:
            extra.append(f"{key}='{value}'" if isinstance(value, str) else f"{key}={value}")
    if args.lrs is not None:
        extra.append(f"sweep.lrs='{args.lrs}'")
    if args.tracker is not None:
        names = [t.strip() for t in args.tracker.split(",") if t.strip()]
        extra.append(f"sweep.trackers={names}")
    if args.eval is not None:
        extra.append(f"eval.run='{args.eval}'")
    if args.download:
        extra.append("data.download=true")
    for o in args.overrides:
        if "=" not in o:
            raise ConfigError(f"unexpected argument {o!r} (overrides look like train.lr=0.05)")
    return load_config(args.config, [*overrides, *args.overrides, *extra])


def cmd_sweep(args, overrides, verb: str) -> int:
    from .progress import ConsoleProgress
    from .report.rundata import RunData
    from .report.section_core import format_summary_table, summary_rows
    from .sweep.run import run_sweep

    config = config_from_args(args, overrides, verb)
    progress = ConsoleProgress()
    rows, root = run_sweep(config, args.out, resume=args.resume, progress=progress,
                           report=not args.no_report)
    run = RunData.load(root)
    print(format_summary_table(summary_rows(run), markdown=False))
    bad = [r for r in rows if r.get("status") != "ok"]
    if bad:
        print(f"\n{len(bad)} member(s) did not train normally: "
              + ", ".join(f"τ={float(r['temperature']):g}/seed {r['seed']}: {r['status']}"
                          for r in bad))
    print(f"\nresults: {Path(root) / 'results.csv'}")
    if not args.no_report:
        print(f"report:  {(Path(root) / 'report.html').resolve()}")
    return 0


def cmd_report(args) -> int:
    from .report.build import build_report

    html_path, md_path = build_report(args.out)
    print(f"report:  {html_path.resolve()}\nmarkdown: {md_path.resolve()}")
    return 0


def cmd_compare(args) -> int:
    from .report.compare import run_compare

    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    out = run_compare(args.runs, args.out, labels=labels)
    print(f"table:   {out / 'compare.csv'}\nreport:  {(out / 'report.html').resolve()}")
    return 0


def cmd_calibrate(args) -> int:

    from .eval.calibrate_file import calibrate_file
    from .sweep.store import atomic_write_json

    logits = args.logits
    if Path(logits).is_dir():  # a run folder: that member's saved test + validation logits
        from .sweep.logits_files import find_member_logits

        logits = find_member_logits(logits, temperature=args.temperature, seed=args.member_seed)
        print(f"member logits: {logits}")
    elif args.temperature is not None or args.member_seed is not None:
        raise ConfigError("--temperature / --member-seed pick a member of a run folder; "
                          f"{logits} is a file")
    result = calibrate_file(logits, labels_path=args.labels, seed=args.seed,
                            n_bins=args.bins, png=args.png)
    for w in result.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    print(f"fitted on {result['n_fit']} samples ({result['fit_on']}), evaluated on "
          f"{result['n_eval']}: temperature T = {result['temperature']:.4f}")
    print(f"accuracy {100 * result['accuracy']:.2f}% (unchanged by scaling)")
    for name in ("nll", "ece", "adaptive_ece", "brier"):
        if f"{name}_before" in result:
            b, a = result[f"{name}_before"], result[f"{name}_after"]
            print(f"{name:>13}: {b:.4f} -> {a:.4f}")
    if args.json_out:
        atomic_write_json(Path(args.json_out), result)
        print(f"json: {args.json_out}")
    if args.png:
        print(f"reliability diagram: {args.png}")
    if not args.json_out:
        print(json.dumps({k: result[k] for k in (
            "temperature", "nll_before", "nll_after", "ece_before", "ece_after",
            "adaptive_ece_before", "adaptive_ece_after", "accuracy")}))
    return 0


def format_dynamics(info: dict) -> str:
    """A short human summary of a dynamics study (the details are in dynamics.json)."""
    a, c, st = info.get("agreement", {}), info.get("collapse", {}), info.get("stability", {})
    fit = st.get("fit", {})

    def num(v, fmt=".3g"):
        return "–" if v is None else format(v, fmt)

    return "\n".join([
        f"dynamics study: {info.get('model')} on {info.get('dataset')}, "
        f"{info.get('n_examples')} examples, {info.get('steps')} steps, "
        f"η·β² = {num(info.get('eta_beta2'))}",
        f"  linearised vs measured loss: max relative error {num(a.get('max_rel_loss_error'))}; "
        f"within 1% for the first {a.get('min_horizon_1pct')} steps (every β)",
        f"  collapse (loss spread across β, first {c.get('early_steps')} steps): matched "
        f"{num(c.get('matched_spread_early'))} vs control {num(c.get('control_spread_early'))}",
        f"  stable lr edge η_max ∝ β^s: s = {num(fit.get('slope'))} ± {num(fit.get('slope_se'))}"
        f" (linearised theory: −2)",
        f"  {num((info.get('seconds') or {}).get('total'), '.1f')} s; "
        "details in dynamics.json / dynamics.npz",
    ])


def cmd_dynamics(args) -> int:
    from .config import from_dict, parse_float_list
    from .progress import ConsoleProgress
    from .registry import load_dataset
    from .report.build import build_report
    from .sweep.study import run_dynamics

    out = Path(args.out)
    in_sweep = (out / "results.csv").is_file()
    if out.exists() and any(out.iterdir()) and not in_sweep:
        raise ConfigError(f"{out} is neither a sweep's run folder nor empty; choose another --out")
    config = from_dict({"model": {"name": args.model if args.model != "linear" else "mlp",
                                  "head_init_scale": args.head_init_scale},
                        "data": {"name": args.dataset, "data_dir": args.data_dir}})
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    if data.kind != "image":
        raise ConfigError("the dynamics study needs an image dataset")
    if args.model != "linear":
        from .registry import lookup

        lookup("model", args.model)
    out.mkdir(parents=True, exist_ok=True)
    info = run_dynamics(out, config, data, {
        "n_examples": args.n_examples, "betas": parse_float_list(args.betas, "--betas"),
        "steps": args.steps, "seed": args.seed, "model": args.model}, ConsoleProgress())
    print(format_dynamics(info))
    html_path, _ = build_report(out)
    print(f"report:  {html_path.resolve()}")
    return 0


def cmd_corrupt(args) -> int:
    from .data.cifar_c import write_cifar_c_layout
    from .data.corruptions import choose_table, parse_table
    from .progress import ConsoleProgress
    from .registry import load_dataset
    from .sweep.group import resolve_device

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; choose a new --out (nothing was written)")
    parse_table(args.table)  # a bad --table fails before the data are loaded
    device = resolve_device(args.device)
    data = load_dataset(args.dataset, data_dir=args.data_dir)
    if data.kind != "image":
        raise ConfigError(f"corruptions need images; dataset {args.dataset} is {data.kind}")
    split = getattr(data, args.split)
    # "all" = every corruption defined for these images (saturate needs colour)
    corruptions = None if args.corruptions == "all" else args.corruptions
    table = choose_table(*split.x.shape[-2:], args.table)
    print(table.note)
    paths = write_cifar_c_layout(split.x, split.y, out, corruptions, args.seed, device=device,
                                 progress=ConsoleProgress(), profile=table.size)
    print(f"wrote {len(paths) - 1} corruptions x 5 severities of {len(split)} {args.split} "
          f"images ({args.dataset}) to {out} with the {table.size} px table")
    return 0


def cmd_distill(args) -> int:
    from .config import parse_temperatures
    from .progress import ConsoleProgress
    from .report.build import build_report
    from .train.distill import run_distill

    out = run_distill(
        args.teacher, out=args.out, teacher_temperature=args.teacher_temperature,
        teacher_seed=args.teacher_seed, teacher_group=args.teacher_group,
        temperatures=parse_temperatures(args.temperatures), alpha=args.alpha,
        epochs=args.epochs, lr=args.lr, student_seed=args.student_seed,
        baseline=not args.no_baseline, device=args.device, data_dir=args.data_dir,
        teacher_logits=args.teacher_logits, progress=ConsoleProgress())
    from .report.rundata import read_csv

    rows = read_csv(Path(out) / "distill.csv")
    print(f"{'role':<9} {'T':>6} {'test acc':>9} {'NLL':>7} {'ECE':>7}")
    for r in rows:
        t = r.get("distill_temperature")
        t = f"{t:g}" if isinstance(t, float) else "–"
        print(f"{r['role']:<9} {t:>6} {100 * r['test_acc']:>8.2f}% {r['test_nll']:>7.4f} "
              f"{100 * r['test_ece']:>6.2f}%")
    html_path, _ = build_report(out)
    print(f"\nresults: {Path(out) / 'distill.csv'}\nreport:  {html_path.resolve()}")
    return 0


def cmd_list(args) -> int:
    from .registry import names
    from .sweep.evaluations import available

    print("models:      " + ", ".join(names("model")))
    print("datasets:    " + ", ".join(names("dataset")))
    print("evaluations: " + ", ".join(ev.name for ev in available()))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in (["--version"], ["-V"]):
        from .provenance import version_line

        print(version_line())
        return 0
    try:
        rest, overrides = _split_overrides(argv)
        args = build_parser().parse_args(rest)
        if args.verb in ("sweep", "train"):
            return cmd_sweep(args, overrides, args.verb)
        if args.verb == "evaluate":
            from .external import cmd_evaluate

            return cmd_evaluate(args, overrides)
        if overrides:
            raise ConfigError(f"{args.verb} takes no config overrides ({overrides[0]})")
        if args.verb == "report":
            return cmd_report(args)
        if args.verb == "list":
            return cmd_list(args)
        if args.verb == "compare":
            return cmd_compare(args)
        if args.verb == "calibrate":
            return cmd_calibrate(args)
        if args.verb == "dynamics":
            return cmd_dynamics(args)
        if args.verb == "corrupt":
            return cmd_corrupt(args)
        if args.verb == "distill":
            return cmd_distill(args)
        if args.verb == "export":
            from .export import cmd_export

            return cmd_export(args)
        raise ConfigError(f"unknown command {args.verb!r}")
    except TempcheckError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
