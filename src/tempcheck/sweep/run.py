"""Run a whole sweep: plan → lock the run folder → execute groups → results.csv → report.

``run_sweep`` is what ``tempcheck sweep`` calls. It refuses an output folder that already holds
a sweep unless ``resume`` is set, and refuses to resume a *different* sweep (fingerprint of the
data, model, training and grid); in both cases nothing in the folder is touched.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import time
from pathlib import Path

from ..config import Config
from ..errors import RunFolderError
from ..progress import NullProgress, Progress
from ..provenance import versions
from . import store
from .evaluations import available, select
from .group import RESULT_COLUMNS, GroupOutcome
from .plan import Group, plan_groups


def validate_evaluation_options(config: Config, names: list[str]) -> None:
    """Parse every selected evaluation's options now, before any training starts."""
    import importlib

    from ..eval.base import parse_options

    for ev in select(names):
        module = importlib.import_module(ev.module)
        # the module's own frozen options dataclass (``XxxOptions``), defined in that module
        classes = [obj for name, obj in vars(module).items()
                   if name.endswith("Options") and dataclasses.is_dataclass(obj)
                   and getattr(obj, "__module__", "") == module.__name__]
        for options_cls in classes[:1]:
            parsed = parse_options(options_cls, dict(getattr(config.eval, ev.name, {}) or {}),
                                   ev.name)
            check = getattr(parsed, "validate", None)
            if callable(check):
                check()


def prepare_folder(root: Path, config: Config, groups: list[Group], resume: bool) -> dict:
    """Check (and create) the run folder; returns the sweep.json content."""
    fp = store.fingerprint(config.to_dict())
    existing = root / "sweep.json"
    if existing.is_file():
        try:
            old = json.loads(existing.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise RunFolderError(f"{existing} is unreadable; choose another --out") from None
        if old.get("fingerprint") != fp:
            raise RunFolderError(
                f"{root} holds a different sweep (its config differs); choose another --out"
            )
        if not resume:
            raise RunFolderError(
                f"{root} already holds this sweep; pass --resume to continue it or choose another --out"
            )
    else:
        old = None
    if old is not None:
        from .extend import resumed_sweep_info

        return resumed_sweep_info(old, _sweep_info(config, groups, fp))
    if root.exists() and any(p for p in root.iterdir() if p.name != ".lock"):
        raise RunFolderError(f"{root} is not empty and holds no sweep; choose another --out")
    return _sweep_info(config, groups, fp)


def _sweep_info(config: Config, groups: list[Group], fp: str) -> dict:
    return {
        "fingerprint": fp, "config": config.to_dict(), "groups": [g.to_dict() for g in groups],
        "grid": {"temperatures": list(config.sweep.temperatures),
                 "seeds": list(config.sweep.seeds), "lrs": config.sweep.lrs,
                 "lr_temperature_exponent": config.train.lr_temperature_exponent},
        "evaluations": [ev.name for ev in select(list(config.eval.run))],
        "available_evaluations": [ev.name for ev in available()],
        "versions": versions(),
    }


def collect(root: Path, outcomes: list[GroupOutcome]) -> list[dict]:
    """Write results.csv and the long-format tables from all groups' outcomes."""
    rows = [r for o in outcomes for r in o.rows]
    extra = []
    for r in rows:
        for key in r:
            if key not in RESULT_COLUMNS and key not in extra:
                extra.append(key)
    store.atomic_write_csv(root / "results.csv", rows, RESULT_COLUMNS + extra)
    tables: dict[str, list[dict]] = {}
    for o in outcomes:
        for name, trows in o.tables.items():
            tables.setdefault(name, []).extend(trows)
    for name, trows in tables.items():
        cols = ["group", "member", "temperature", "seed", "lr"]
        for r in trows:
            cols += [c for c in r if c not in cols]
        store.atomic_write_csv(root / f"{name}.csv", trows, cols)
    return rows


def run_sweep(
    config: Config, out: str | Path, *, resume: bool = False, progress: Progress | None = None,
    report: bool = True,
) -> tuple[list[dict], Path]:
    """Run the sweep described by ``config`` into ``out``; returns (results rows, out path)."""
    progress = progress or NullProgress()
    root = Path(out)
    evaluations = select(list(config.eval.run))
    validate_evaluation_options(config, list(config.eval.run))
    from ..registry import lookup
    from .group import load_data, resolve_device

    # every user mistake we can see fails here, before anything is written
    resolve_device(config.train.device)
    from ..trackers import check_trackers

    check_trackers(config.sweep.trackers)  # unknown or not installed: before anything is written
    lookup("model", config.model.name)
    lookup("dataset", config.data.name)
    data = load_data(config)
    from ..models.python_model import check_python_model
    from ..train.distill import model_kwargs

    # a user factory vmap cannot batch fails here
    check_python_model(config.model.name, config.model.head_init_scale,
                       model_kwargs(config, data))
    from .group import make_objective

    make_objective(config, __import__("torch").ones(1))  # validates temperature_mode
    from .group import adversarial_training_options

    adversarial_training_options(config, data)  # validates train.adv_train / adv_options
    from .bank_size import plan_bank_size

    bank_plan = plan_bank_size(config, data, resolve_device(config.train.device))
    groups = plan_groups(config, bank_plan.max_bank)
    if config.train.threads is not None and config.train.threads < 1:
        from ..errors import ConfigError

        raise ConfigError(f"train.threads must be >= 1, got {config.train.threads}")
    if config.sweep.backend not in ("local", "ray"):
        from ..errors import ConfigError

        raise ConfigError(f"unknown backend {config.sweep.backend!r}; use local or ray")
    ray_started = False
    if config.sweep.backend == "ray":
        from .ray import connect

        ray_started = connect(config)  # an unreachable cluster fails before anything is written
    root.mkdir(parents=True, exist_ok=True)
    from ..train.threads import torch_threads

    try:
        with torch_threads(config.train.threads):
            return _run_locked(config, root, groups, evaluations, data, resume, progress, report,
                               bank_plan.to_dict())
    finally:
        if ray_started:
            import ray

            ray.shutdown()


def _run_locked(config, root, groups, evaluations, data, resume, progress, report, bank_plan):
    """The part of ``run_sweep`` that holds the run folder's lock and writes into it."""
    with store.SweepLock(root):
        sweep_info = prepare_folder(root, config, groups, resume)
        sweep_info["bank_plan"] = bank_plan  # how --max-bank was resolved on this device
        for stale in root.glob(".*.tmp"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
        started = time.time()
        now = _dt.datetime.now().isoformat(timespec="seconds")
        sweep_info.setdefault("started", now)  # a resumed sweep keeps its original start
        sweep_info.setdefault("sessions", []).append({"started": now})
        sweep_info["data"] = data.describe()  # sizes and class names, for the report
        store.atomic_write_json(root / "sweep.json", sweep_info)
        if data.kind == "text" and "vocab" in data.extra:
            # the run's tokenizer vocabulary, one token per line (line i is id i; data.text)
            store.atomic_write_text(root / "vocab.txt",
                                    "".join(f"{tok}\n" for tok in data.extra["vocab"]))
        if config.sweep.backend == "ray":
            from .ray import run_ray

            outcomes = run_ray(root, config, groups, evaluations, resume=resume,
                               progress=progress)
        else:
            from .local import run_local

            outcomes = run_local(root, config, groups, evaluations, resume=resume,
                                 progress=progress)
        rows = collect(root, outcomes)
        for ev in evaluations:
            if ev.scope == "sweep":
                if resume and (root / f"{ev.name}.json").is_file():
                    progress.log(f"{ev.name}: already done, kept")
                    continue
                from .study import run_study

                run_study(ev, root, config, data, progress)
        sweep_info["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
        session = round(time.time() - started, 2)
        sweep_info["sessions"][-1].update(finished=sweep_info["finished"], wall_seconds=session)
        # wall time over every session of this sweep (a resume adds to it)
        sweep_info["wall_seconds"] = round(sum(s.get("wall_seconds", 0.0)
                                               for s in sweep_info["sessions"]), 2)
        store.atomic_write_json(root / "sweep.json", sweep_info)
        if report:
            from ..report.build import build_report

            build_report(root)
    return rows, root
