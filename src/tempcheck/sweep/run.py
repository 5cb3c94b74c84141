"""Run a whole sweep: check → plan → lock the run folder → execute groups → results.csv.

``run_sweep`` is the library call under ``tempcheck sweep`` (``tempcheck.app.sweep`` adds the
report and the exit status). Everything a user can get wrong is checked before the folder is
created (``recipe.check``, the data loads, the Ray cluster answers). It refuses an output folder
that already holds a sweep unless ``resume`` is set, and refuses to resume a *different* sweep
(fingerprint of the data, model, training and grid); in both cases nothing in the folder is
touched, and a refused run leaves no lock file or folder behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path

from .. import recipe
from ..config import Config
from ..errors import RunFolderError
from ..evaluations import available, select
from ..progress import NullProgress, Progress
from ..provenance import versions
from . import store
from .group import RESULT_COLUMNS, GroupOutcome
from .plan import Group, plan_groups


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
) -> tuple[list[dict], Path]:
    """Run the sweep described by ``config`` into ``out``; returns (results rows, out path).
    The report is not built here (``tempcheck.report.build.build_report(out)``, or
    ``tempcheck.app.run_sweep`` for both)."""
    progress = progress or NullProgress()
    root = Path(out)
    # every user mistake we can see fails here, before anything is written
    recipe.check(config)
    from ..trackers import check_trackers

    check_trackers(config.sweep.trackers)  # unknown or not installed: before anything is written
    evaluations = select(list(config.eval.run))
    store.check_out_folder(root)
    data = recipe.load_data(config)
    from ..models.python_model import check_python_model

    # a user factory vmap cannot batch fails here
    check_python_model(config.model.name, config.model.head_init_scale,
                       recipe.model_kwargs(config, data))
    recipe.adversarial_training_options(config, data)  # needs image data
    from .bank_size import plan_bank_size

    bank_plan = plan_bank_size(config, data, recipe.resolve_device(config.train.device))
    groups = plan_groups(config, bank_plan.max_bank)
    ray_started = False
    if config.sweep.backend == "ray":
        from .ray import connect

        ray_started = connect(config)  # an unreachable cluster fails before anything is written
    from ..train.threads import torch_threads

    try:
        with torch_threads(config.train.threads):
            return _run_locked(config, root, groups, evaluations, data, resume, progress,
                               bank_plan.to_dict())
    finally:
        if ray_started:
            import ray

            ray.shutdown()


def _run_locked(config, root, groups, evaluations, data, resume, progress, bank_plan):
    """The part of ``run_sweep`` that holds the run folder's lock and writes into it."""
    prepare_folder(root, config, groups, resume)  # refuse before creating anything
    created = not root.exists()
    had_lock = (root / ".lock").exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        lock = store.SweepLock(root).acquire()
    except RunFolderError:
        _undo_folder(root, created, had_lock=True)
        raise
    try:
        try:
            sweep_info = prepare_folder(root, config, groups, resume)  # again, under the lock
        except RunFolderError:
            lock.release()
            _undo_folder(root, created, had_lock)
            raise
        sweep_info["bank_plan"] = bank_plan  # how --max-bank was resolved on this device
        return _run_in(config, root, groups, evaluations, data, resume, progress, sweep_info)
    finally:
        lock.release()


def _undo_folder(root: Path, created: bool, had_lock: bool) -> None:
    """A refused run leaves no trace: its lock file, and the folder when it made it."""
    if not had_lock:
        (root / ".lock").unlink(missing_ok=True)
    if created:
        try:
            root.rmdir()
        except OSError:
            pass  # not empty: something else wrote into it meanwhile


def _run_in(config, root, groups, evaluations, data, resume, progress, sweep_info):
    """Write sweep.json, run the groups and the sweep-level studies, write results.csv."""
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

        outcomes = run_ray(root, config, groups, evaluations, resume=resume, progress=progress)
    else:
        from .local import run_local

        outcomes = run_local(root, config, groups, evaluations, resume=resume, progress=progress)
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
    return rows, root
