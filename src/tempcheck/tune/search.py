"""``tempcheck tune``: choose τ with one bank per seed, dropping the losers at rungs.

For each seed, one bank holds every candidate (τ × learning rate) and trains on the seed's
batches. At each rung (``rungs.py``) the members are ranked on the objective (``objectives.py``,
validation split) and the losers are *physically* removed (``prune.py``): the survivors go on in a
smaller bank, so the remaining epochs cost less, and they are exactly where they would be in the
unpruned bank. The last survivor is the choice of that seed; over several seeds the choice is the
τ chosen most often (ties: the better mean final objective).

Cost is counted in member-epochs (one member trained for one epoch); a full sweep of the same
grid costs members × epochs per seed. Everything is written to ``OUT`` as it goes
(``tune.json``, per-seed ``seed<S>/state.pt`` after every epoch), so ``--resume`` continues an
interrupted tune where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_torch_save, atomic_write_json, load_checkpoint
from ..config import Config
from ..data.base import DatasetSplits
from ..errors import ConfigError, RunFolderError
from ..progress import NullProgress, Progress
from ..sweep.plan import Group, plan_groups
from ..train.loop import FitOptions, fit
from . import objectives as obj
from .prune import keep_members
from .rungs import RULES, Rung, make_plan, parse_plan, plan_cost, select


@dataclass(frozen=True)
class TuneOptions:
    """How a tune decides (see the module docstrings of ``rungs`` and ``objectives``).

    objective / weights: what is ranked (``objectives.NAMES``; weights for ``weighted``).
    budget: member-epochs allowed, as a fraction of the full sweep's (default 0.35).
    reduction: each rung keeps 1/reduction of the members (default 2).
    rungs: an explicit plan ``"epoch:keep,..."`` instead of the budgeted one.
    rule: ``catchup`` (default) or ``raw``; protect: slow starters kept beyond the best at a
        rung (catchup only); smooth: epochs averaged; tie: scores closer than
        this are ordered by the tie-breaker (None: one validation example for accuracies, 0
        otherwise).
    finish: train the last survivor to the last epoch (costs member-epochs; gives its final
        numbers); otherwise the tune stops at the last rung.
    sample: validation images for the robust / corruption objectives.
    retrain_seeds: after choosing, train the chosen τ with these seeds (a sweep in
        ``OUT/retrain``) for a mean ± s.d. of its test numbers.
    """

    objective: str = "val_acc"
    weights: str | None = None
    budget: float = 0.35
    reduction: float = 2.0
    rungs: str | None = None
    rule: str = "catchup"
    protect: int = 1
    smooth: int = 1
    tie: float | None = None
    finish: bool = False
    sample: int = 200
    retrain_seeds: tuple[int, ...] = ()

    def validate(self) -> dict[str, float]:
        terms = obj.check_objective(self.objective, self.weights)
        if self.rule not in RULES:
            raise ConfigError(f"unknown tune rule {self.rule!r}; use {', '.join(RULES)}")
        if self.protect < 0:
            raise ConfigError(f"tune protect must be >= 0 members, got {self.protect}")
        if self.smooth < 1:
            raise ConfigError(f"tune smooth must be >= 1 epoch, got {self.smooth}")
        if self.sample < 1:
            raise ConfigError(f"tune sample must be >= 1 image, got {self.sample}")
        if self.tie is not None and not (math.isfinite(self.tie) and self.tie >= 0):
            raise ConfigError(f"tune tie must be a number >= 0, got {self.tie}")
        return terms


@dataclass
class SeedTune:
    """The record of one seed's tune: curves over epochs for every candidate and the drops."""

    seed: int
    temperatures: list[float]
    lrs: list[float]
    plan: list[dict]
    curves: dict[str, list[list[float | None]]] = field(default_factory=dict)  # name -> [E][n]
    dropped: list[dict] = field(default_factory=list)  # {member, epoch, rank, score, reason}
    protected: list[dict] = field(default_factory=list)  # kept from below the cut
    alive: list[int] = field(default_factory=list)
    epoch: int = 0  # epochs trained by the survivors
    decided: list[int] = field(default_factory=list)  # rung epochs already decided
    member_epochs: int = 0
    seconds: float = 0.0
    chosen: int | None = None
    chosen_value: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class _Stop(Exception):
    """Raised from fit's epoch callback at a rung: fit has no 'stop at epoch' argument, and
    a rung must see the bank exactly as the unpruned bank would be at that epoch."""


def _members_of(config: Config, seed: int) -> Group:
    # every member of this seed, whatever bank sizes a sweep would use
    one = config.replace(sweep=dataclasses.replace(config.sweep, seeds=(int(seed),)))
    groups = plan_groups(one)
    return Group(f"tune-seed{seed}", seed, tuple(m for g in groups for m in g.members))


def _plan(config: Config, options: TuneOptions, members: int) -> list[Rung]:
    epochs = config.train.epochs
    if options.rungs:
        return parse_plan(options.rungs, members, epochs)
    return make_plan(members, epochs, budget=options.budget, reduction=options.reduction,
                     finish=options.finish,
                     protect=options.protect if options.rule == "catchup" else 0)


@dataclass
class _SeedRun:
    """What one seed's tune works with (built once by ``tune_seed``)."""

    config: Config
    options: TuneOptions
    terms: dict[str, float]
    group: Group
    folder: Path
    data: DatasetSplits
    device: torch.device
    fit_opts: FitOptions
    progress: Progress
    started: float = 0.0

    @property
    def state_path(self) -> Path:
        return self.folder / "state.pt"

    def save(self, record: SeedTune, snapshot) -> None:
        """The resumable state (after every epoch and rung) and the one-line status the Ray
        driver polls (``seed_status``)."""
        atomic_torch_save(self.state_path, {"record": record.to_dict(), "snapshot": snapshot})
        atomic_write_json(self.folder / STATUS_FILE, {
            "epoch": record.epoch, "epochs": self.config.train.epochs,
            "members": len(record.alive), "member_epochs": record.member_epochs})


STATUS_FILE = "status.json"


def tune_seed(config: Config, seed: int, options: TuneOptions, folder: Path, *,
              resume: bool = False, progress: Progress | None = None) -> SeedTune:
    """Run the tune of one seed in ``folder`` (``state.pt`` and ``status.json`` after every
    epoch): train the alive members to the next rung, decide it, repeat."""
    from .. import recipe

    progress = progress or NullProgress()
    terms = options.validate()
    group = _members_of(config, seed)
    device = recipe.resolve_device(config.train.device)
    data = recipe.load_data(config)
    run = _SeedRun(config, options, terms, group, folder, data, device,
                   recipe.fit_options(config, device, data), progress)
    plan = _plan(config, options, len(group.members))
    record, snapshot = _open_record(run, plan, resume)
    run.started = time.perf_counter() - record.seconds
    # rungs not yet decided (a tune killed between an epoch and its rung decides on resume)
    pending = [Rung(**r) for r in record.plan if r["epoch"] not in record.decided]
    while record.alive:
        rung = next((r for r in pending if r.epoch == record.epoch), None)
        if rung is not None:
            pending.remove(rung)
            later = [r.epoch for r in pending]
            snapshot = _decide(record, rung, later[0] if later else None, snapshot, options,
                               _tie(options, terms, data), config, data, recipe)
            record.decided.append(rung.epoch)
            run.save(record, snapshot)
            continue
        targets = [e for e in [r.epoch for r in pending]
                   + ([config.train.epochs] if options.finish else []) if e > record.epoch]
        if not targets:
            break
        snapshot = _train_to(run, record, snapshot, targets[0], [r.epoch for r in pending])
    final = np.array([v if v is not None else np.nan for v in record.curves["objective"][-1]])
    record.chosen = int(record.alive[0])
    record.chosen_value = float(final[record.chosen])
    record.seconds = time.perf_counter() - run.started
    run.save(record, snapshot)
    return record


def _tie(options: TuneOptions, terms: dict[str, float], data) -> float:
    """Scores closer than this tie (default: one validation example for accuracies)."""
    if options.tie is not None:
        return options.tie
    accuracies = set(terms) <= {"val_acc", "robust_acc", "corr_acc"}
    return 1.0 / max(1, len(data.val)) if accuracies else 0.0


def _open_record(run: _SeedRun, plan: list[Rung], resume: bool) -> tuple[SeedTune, dict | None]:
    """A fresh record with every member alive, or the saved one (and its bank snapshot)."""
    if resume and run.state_path.is_file():
        saved = load_checkpoint(run.state_path)
        record = SeedTune(**saved["record"])
        run.progress.log(f"tune seed {record.seed}: resuming after epoch {record.epoch} with "
                         f"{len(record.alive)} members")
        return record, saved["snapshot"]
    members = run.group.members
    record = SeedTune(run.group.seed, [m.temperature for m in members], [m.lr for m in members],
                      [dataclasses.asdict(r) for r in plan])
    record.alive = list(range(len(members)))
    record.curves = {name: [] for name in (*obj.OBJECTIVES, "nll_ts", "objective")}
    return record, None


def _train_to(run: _SeedRun, record: SeedTune, snapshot: dict | None, target: int,
              rung_epochs: list[int]) -> dict:
    """Train the alive members from ``snapshot`` to epoch ``target``, scoring and saving after
    every epoch; returns the bank's snapshot at ``target``."""
    from .. import recipe

    config, data, device, seed = run.config, run.data, run.device, run.group.seed
    alive = list(record.alive)
    members = [run.group.members[i] for i in alive]
    model = recipe.build_model(config, data, [m.seed for m in members]).to(device)
    taus = torch.tensor([m.temperature for m in members])
    lrs = torch.tensor([m.lr for m in members])
    rung_names = [t for t in run.terms if not obj.OBJECTIVES[t][1]]
    holder: dict = {}

    def on_epoch_end(epoch: int, snap) -> None:
        batch = run.fit_opts.eval_batch_size
        raw = obj.epoch_scores(model, data, taus, batch_size=batch, device=device)
        if epoch + 1 in rung_epochs and rung_names:
            raw.update(obj.rung_scores(rung_names, model, data, taus, sample=run.options.sample,
                                       seed=seed, batch_size=batch, device=device))
        raw["objective"] = obj.combine(run.terms, raw)
        _append_scores(record, raw, alive)
        record.epoch = epoch + 1
        record.member_epochs += len(alive)
        record.seconds = time.perf_counter() - run.started
        holder["snapshot"] = snap()
        run.save(record, holder["snapshot"])
        best = np.nanmax(np.where(np.isnan(raw["objective"]), -np.inf, raw["objective"]))
        run.progress.log(f"tune seed {seed}: epoch {epoch + 1}/{config.train.epochs}, "
                         f"{len(alive)} members, best {terms_label(run.terms)} {best:.4g}")
        if epoch + 1 >= target:
            raise _Stop

    try:
        fit(model, data.to(device) if device.type == "cpu" else data,
            temperatures=taus, lrs=lrs, options=run.fit_opts, seed=seed,
            augment=recipe.make_augment(config, data), start_state=snapshot,
            on_epoch_end=on_epoch_end, objective=recipe.make_objective(config, taus))
    except _Stop:
        pass
    return holder["snapshot"]


def _append_scores(record: SeedTune, raw: dict, alive: list[int]) -> None:
    """One epoch's scores of the alive members into the record's full-width curves (None for
    members already dropped, and for non-finite scores)."""
    n = len(record.temperatures)
    for name, values in record.curves.items():
        row = [None] * n
        if name in raw:
            for j, i in enumerate(alive):
                v = float(raw[name][j])
                row[i] = v if math.isfinite(v) else None
        values.append(row)


def seed_status(folder: Path, seeds: list[int]) -> str:
    """``"seed0 epoch 3/8 (4 members), seed1 starting"``: each running seed's last saved epoch
    (``seed<S>/status.json``), for the Ray driver's progress line."""
    parts = []
    for seed in seeds:
        path = folder / f"seed{seed}" / STATUS_FILE
        try:
            st = json.loads(path.read_text(encoding="utf-8"))
            parts.append(f"seed{seed} epoch {st['epoch']}/{st['epochs']} "
                         f"({st['members']} members)")
        except (OSError, ValueError, KeyError):
            if path.parent.is_dir():
                parts.append(f"seed{seed} starting")
    return ", ".join(parts)


def terms_label(terms: dict[str, float]) -> str:
    return "+".join(terms) if len(terms) > 1 else next(iter(terms))


def _curve_matrix(record: SeedTune, name: str, members: list[int]) -> np.ndarray:
    rows = record.curves[name]
    return np.array([[np.nan if r[i] is None else r[i] for i in members] for r in rows],
                    dtype=float).reshape(len(rows), len(members))


def _decide(record: SeedTune, rung: Rung, next_epoch: int | None, snapshot: dict,
            options: TuneOptions, tie: float, config: Config, data, recipe) -> dict:
    """Rank the alive members at ``rung``, record the drops, and slice the snapshot."""
    alive = list(record.alive)
    sel = select(_curve_matrix(record, "objective", alive),
                 -_curve_matrix(record, "nll_ts", alive), keep=rung.keep, epoch=rung.epoch,
                 next_epoch=next_epoch, rule=options.rule, smooth=options.smooth, tie=tie,
                 protect=options.protect)
    for place, j in enumerate(sel.order):
        i = alive[j]
        if j in sel.protected:
            record.protected.append({
                "member": i, "temperature": record.temperatures[i], "epoch": rung.epoch,
                "rank": place + 1, "score": sel.scores[j], "catch_up_epochs": sel.catch_up[j]})
        elif j not in sel.kept:
            record.dropped.append({
                "member": i, "temperature": record.temperatures[i], "epoch": rung.epoch,
                "rank": place + 1, "of": len(alive), "score": sel.scores[j], "kept": rung.keep,
                "reason": f"rank {place + 1} of {len(alive)} at epoch {rung.epoch} "
                          f"(score {sel.scores[j]:.4g}); best {rung.keep} kept"
                          + ("" if next_epoch is None else
                             f", not catching up by epoch {next_epoch}"),
            })
    kept_pos = sorted(sel.kept)
    record.alive = [alive[j] for j in kept_pos]
    seeds = [_members_of(config, record.seed).members[i].seed for i in record.alive]
    template = recipe.build_model(config, data, seeds).state_dict()
    return keep_members(snapshot, kept_pos, members=len(alive), template=template)


def _seed_task(config_dict: dict, seed: int, options: dict, folder: str, threads: int) -> dict:
    """Body of one Ray task: one seed's tune. ``resume=True`` so a task retried after its worker
    died continues from the seed's ``state.pt`` (a first attempt has none)."""
    from ..config import from_dict

    torch.set_num_threads(max(1, threads))
    opts = TuneOptions(**{**options, "retrain_seeds": tuple(options["retrain_seeds"])})
    return tune_seed(from_dict(config_dict), seed, opts, Path(folder), resume=True).to_dict()


def _tune_on_ray(config: Config, options: TuneOptions, folder: Path, resume: bool,
                 progress: Progress) -> list[SeedTune]:
    """Every seed's tune as one Ray task (the sweep's resources, retries and progress lines);
    a seed whose task failed for good fails the tune (no choice without every seed)."""
    from ..sweep.ray import RemoteJob, run_remote

    threads = max(1, int(config.sweep.cpus_per_bank))
    jobs = [RemoteJob(f"seed{seed}", (config.to_dict(), seed, dataclasses.asdict(options),
                                      str(folder / f"seed{seed}"), threads))
            for seed in config.sweep.seeds]
    by_name = {f"seed{seed}": seed for seed in config.sweep.seeds}
    results = run_remote(config, _seed_task, jobs, progress=progress, kind="tune",
                         status=lambda running: seed_status(folder, [by_name[n] for n in running]))
    failed = {n: r for n, r in results.items() if isinstance(r, Exception)}
    if failed:
        name, exc = next(iter(failed.items()))
        raise RuntimeError(f"tune {name} failed on Ray: {exc}") from exc
    return [SeedTune(**results[job.name]) for job in jobs]


def choose(records: list[SeedTune]) -> tuple[float, dict]:
    """The τ chosen most often over seeds (ties: the higher mean objective at the choice)."""
    votes = Counter(r.temperatures[r.chosen] for r in records)
    values: dict[float, list[float]] = {}
    for r in records:
        values.setdefault(r.temperatures[r.chosen], []).append(r.chosen_value)
    best = max(votes, key=lambda t: (votes[t], float(np.nanmean(values[t]))))
    return best, {"votes": {str(t): c for t, c in votes.items()}}


def run_tune(config: Config, out: str | Path, options: TuneOptions, *, resume: bool = False,
             progress: Progress | None = None) -> dict:
    """Tune τ over ``config.sweep.temperatures`` (× ``sweep.lrs``) for every seed of
    ``config.sweep.seeds``; writes ``OUT/tune.json`` and returns its content.

    When ``out`` holds a finished sweep (``sweep.json``), the tune goes to ``out/tune`` and its
    outcome is compared with that sweep's results (same folder, same report)."""
    from .. import recipe
    from ..sweep import store

    progress = progress or NullProgress()
    options.validate()
    root = Path(out)
    sweep_root = root if (root / "sweep.json").is_file() else None
    folder = root / "tune" if sweep_root else root
    members = len(_members_of(config, config.sweep.seeds[0]).members)
    plan = _plan(config, options, members)  # a bad budget or rung plan fails here
    recipe.resolve_device(config.train.device)
    recipe.load_data(config)
    if config.sweep.backend == "ray":
        from ..sweep.ray import import_ray

        import_ray()  # the install hint, before anything is written
    if (folder / "tune.json").is_file() and not resume:
        raise RunFolderError(f"{folder} already holds a tune; pass --resume or choose another --out")
    if not resume and folder.exists() and any(p for p in folder.iterdir() if p.name != ".lock"):
        raise RunFolderError(f"{folder} is not empty; choose another --out")
    folder.mkdir(parents=True, exist_ok=True)
    with store.SweepLock(folder):
        full = members * config.train.epochs * len(config.sweep.seeds)
        started = time.time()
        if config.sweep.backend == "ray":
            records = _tune_on_ray(config, options, folder, resume, progress)
        else:
            records = [tune_seed(config, seed, options, folder / f"seed{seed}", resume=resume,
                                 progress=progress) for seed in config.sweep.seeds]
        chosen, votes = choose(records)
        outcome = {
            "temperature": chosen, "objective": options.objective,
            "value": float(np.nanmean([r.chosen_value for r in records
                                       if r.temperatures[r.chosen] == chosen])),
            "member_epochs": int(sum(r.member_epochs for r in records)),
            "full_sweep_member_epochs": int(full),
            "budget_fraction": round(sum(r.member_epochs for r in records) / full, 4),
            "plan": [dataclasses.asdict(r) for r in plan],
            "planned_member_epochs": plan_cost(
                plan, members, config.train.epochs, options.finish,
                options.protect if options.rule == "catchup" else 0) * len(config.sweep.seeds),
            "options": dataclasses.asdict(options), **votes,
            "seeds": [r.to_dict() for r in records],
            "config": config.to_dict(), "wall_seconds": round(time.time() - started, 2),
        }
        if sweep_root is not None:
            outcome["full_sweep"] = compare_with_sweep(sweep_root, chosen)
        if options.retrain_seeds:
            outcome["retrain"] = _retrain(config, chosen, options.retrain_seeds,
                                          folder / "retrain", progress)
        atomic_write_json(folder / "tune.json", outcome)
    return outcome


def compare_with_sweep(sweep_root: Path, chosen: float) -> dict:
    """Test accuracy of the chosen τ against the best τ of a full sweep's results.csv (mean
    over its seeds); ``regret`` is best − chosen, in accuracy points (fraction)."""
    import csv

    with open(sweep_root / "results.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("status") in ("ok", "stalled")]
    by_tau: dict[float, list[float]] = {}
    for r in rows:
        by_tau.setdefault(float(r["temperature"]), []).append(float(r["test_acc"]))
    means = {t: float(np.mean(v)) for t, v in by_tau.items()}
    best = max(means, key=means.get)
    got = means.get(min(means, key=lambda t: abs(math.log(t / chosen))))
    return {"test_acc_by_temperature": {str(t): m for t, m in sorted(means.items())},
            "best_temperature": best, "best_test_acc": means[best],
            "chosen_test_acc": got, "regret": means[best] - got}


def _retrain(config: Config, tau: float, seeds, out: Path, progress: Progress) -> dict:
    from ..sweep.run import run_sweep

    cfg = config.replace(sweep=dataclasses.replace(config.sweep, temperatures=(float(tau),),
                                                   seeds=tuple(int(s) for s in seeds), lrs=None))
    rows, _ = run_sweep(cfg, out, resume=(out / "sweep.json").is_file(), progress=progress)
    acc = [float(r["test_acc"]) for r in rows if r.get("status") == "ok"]
    return {"folder": str(out), "seeds": list(seeds), "test_acc": acc,
            "test_acc_mean": float(np.mean(acc)) if acc else None,
            "test_acc_sd": float(np.std(acc, ddof=1)) if len(acc) > 1 else None}
