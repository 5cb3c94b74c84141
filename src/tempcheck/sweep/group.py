"""Train and evaluate one group (bank) and write its folder ``groups/<name>/``.

Files (all written atomically): ``config.json`` (the group and resolved config),
``metrics.jsonl`` (one record per epoch, per-member lists), ``checkpoint.pt`` (every
``train.checkpoint_every`` epochs and at the end; resumable), ``eval.json``, ``arrays.npz``,
``rows.json`` (this group's results.csv rows), ``tables.json`` (long-format evaluation rows),
and last ``done.json``, whose presence marks the group finished.
"""

from __future__ import annotations

import os
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import recipe
from ..config import Config
from ..data.base import DatasetSplits
from ..evaluations import Evaluation
from ..progress import NullProgress, Progress, member_lines
from ..trackers import Trackers
from ..train.loop import History, fit
from . import store
from .evaluate import evaluate_bank
from .extend import add_evaluations, annotate_tables, missing_evaluations
from .logits_files import member_logits_file, save_member_logits
from .plan import Group

# DESIGN.md's columns in its order; evaluations append theirs after these (never renamed)
RESULT_COLUMNS = [
    "group", "member", "dataset", "model", "temperature", "seed", "lr", "epochs", "status",
    "test_acc", "test_nll", "test_ece", "test_brier", "ts_temperature", "test_ece_ts",
    "test_nll_ts", "corr_acc_mean", "robust_acc_worst", "masking_suspected", "train_seconds",
    "base_lr", "diverged_epoch", "final_train_acc", "error",
]


@dataclass
class GroupOutcome:
    name: str
    rows: list[dict]
    tables: dict[str, list[dict]] = field(default_factory=dict)
    skipped: bool = False


def _epoch_probe(evaluations: list[Evaluation]):
    """Gradient-balance and logit statistics through training when those evaluations run."""
    if not {"gradients", "logits"} & {ev.name for ev in evaluations}:
        return None
    from ..analysis.epoch import epoch_statistics

    return epoch_statistics


def run_group(
    root: Path, config: Config, group: Group, evaluations: list[Evaluation], *,
    resume: bool = False, progress: Progress | None = None,
) -> GroupOutcome:
    """Train (or resume) and evaluate ``group``; returns its results rows and tables."""
    progress = progress or NullProgress()
    gdir = Path(root) / "groups" / group.name
    if resume and (gdir / "done.json").is_file():
        missing = missing_evaluations(gdir, evaluations)
        if missing or not member_logits_file(gdir, 0).is_file():
            # `--resume --eval X` on a finished group: X (and any logits files it lacks) from
            # its checkpoint, without retraining
            rows, tables = add_evaluations(root, config, group, missing, progress=progress)
            return GroupOutcome(group.name, rows, tables, skipped=not missing)
        rows = store_json(gdir / "rows.json")
        tables = store_json(gdir / "tables.json") if (gdir / "tables.json").is_file() else {}
        return GroupOutcome(group.name, rows, tables, skipped=True)
    device = recipe.resolve_device(config.train.device)
    data = recipe.load_data(config)
    data_dev = data.to(device) if _fits_on(data, device) else data
    # on CUDA the input batches are made channels_last in fit(); the banked conv weights are
    # 5-d (K, out, in, kh, kw), so the model itself is not converted
    model = recipe.build_model(config, data, [m.seed for m in group.members]).to(device)
    taus = torch.tensor([m.temperature for m in group.members])
    lrs = torch.tensor([m.lr for m in group.members])
    store.atomic_write_json(gdir / "config.json", {"group": group.to_dict(),
                                                   "config": config.to_dict()})
    for stale in gdir.glob(".*.tmp"):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    # where this group runs now (a cluster user wants to know; the crash tests kill this pid)
    store.atomic_write_json(gdir / "worker.json", {
        "pid": os.getpid(), "host": platform.node(), "device": str(device),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    start_state = None
    ckpt_path = gdir / "checkpoint.pt"
    if resume and ckpt_path.is_file():
        start_state = store.load_checkpoint(ckpt_path)
        progress.log(f"group {group.name}: resuming after epoch {int(start_state['epoch']) + 1}")
    every = max(1, config.train.checkpoint_every)
    records: list[dict] = list(start_state["history"]["records"]) if start_state else []

    def on_epoch_end(epoch: int, snapshot) -> None:
        state = snapshot()
        records[:] = state["history"]["records"]
        store.atomic_write_jsonl(gdir / "metrics.jsonl", records)
        trackers.log_record(records[-1])
        if (epoch + 1) % every == 0 or epoch == config.train.epochs - 1:
            store.atomic_torch_save(ckpt_path, state)

    compiled = torch.compile(model) if config.train.compile else model
    progress.log(f"group {group.name}: {len(group.members)} members, "
                 f"τ = {', '.join(f'{m.temperature:g}' for m in group.members)}")
    if start_state is not None and int(start_state["epoch"]) + 1 >= config.train.epochs:
        model.load_state_dict(start_state["model"])
        history = History.from_dict(start_state["history"])
    else:
        # per-member, per-epoch mirrors of metrics.jsonl (TensorBoard / MLflow), when asked for
        trackers = Trackers(config.sweep.trackers, root, group.name,
                            [(m.temperature, m.seed, m.lr) for m in group.members])
        try:
            history = fit(compiled, data_dev, temperatures=taus, lrs=lrs,
                          options=recipe.fit_options(config, device, data), seed=group.seed,
                          augment=recipe.make_augment(config, data), progress=progress,
                          start_state=start_state, on_epoch_end=on_epoch_end,
                          objective=recipe.make_objective(config, taus),
                          epoch_probe=_epoch_probe(evaluations))
        finally:
            trackers.close()
    for line in member_lines([(m.temperature, m.seed) for m in group.members],
                             history.last("train_acc"), history.last("test_acc"),
                             history.status):
        progress.log(line)
    model.eval()
    final_taus = history.last("temperature")
    if config.train.temperature_mode != "fixed" and final_taus:
        # a learned or scheduled τ ends elsewhere: evaluate each member at its final τ
        taus = torch.tensor(final_taus, dtype=torch.float32)
    evaluated = evaluate_bank(model, data_dev, taus, evaluations, config, device=device,
                              seed=group.seed, progress=progress)
    columns, arrays, info, tables = (evaluated.columns, evaluated.arrays, evaluated.info,
                                     evaluated.tables)
    rows = []
    for k, m in enumerate(group.members):
        row = {
            "group": group.name, "member": k, "dataset": config.data.name,
            "model": config.model.name, "temperature": m.temperature, "seed": m.seed,
            "lr": m.lr, "base_lr": m.base_lr, "epochs": config.train.epochs,
            "status": history.status[k], "diverged_epoch": history.diverged_epoch[k],
            "final_temperature": float(taus[k]),
            "train_seconds": round(history.seconds, 3),
            "final_train_acc": (history.last("train_acc") or [None] * (k + 1))[k],
        }
        for col, values in columns.items():
            row[col] = values[k]
        rows.append(row)
    annotate_tables(tables, group)
    save_member_logits(gdir, model, data_dev, taus.tolist(), [m.seed for m in group.members],
                       batch_size=config.eval.batch_size, device=device)
    store.atomic_write_json(gdir / "eval.json", info)
    store.atomic_write_npz(gdir / "arrays.npz", arrays)
    store.atomic_write_json(gdir / "tables.json", tables)
    store.atomic_write_json(gdir / "rows.json", rows)
    store.atomic_write_json(gdir / "done.json", {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": platform.node(),
        "device": str(device), "train_seconds": history.seconds,
    })
    return GroupOutcome(group.name, rows, tables)


def failed_outcome(group: Group, config: Config, error: BaseException) -> GroupOutcome:
    """Rows marking every member of a group that failed for good as ``failed``."""
    message = f"{type(error).__name__}: {error}"
    rows = [{
        "group": group.name, "member": k, "dataset": config.data.name, "model": config.model.name,
        "temperature": m.temperature, "seed": m.seed, "lr": m.lr, "base_lr": m.base_lr,
        "epochs": config.train.epochs, "status": "failed", "error": message,
    } for k, m in enumerate(group.members)]
    return GroupOutcome(group.name, rows, {})


def format_exception(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def store_json(path: Path):
    import json

    return json.loads(Path(path).read_text(encoding="utf-8"))


def _fits_on(data: DatasetSplits, device: torch.device) -> bool:
    """Keep the dataset resident on the GPU when it takes under a quarter of its memory."""
    if device.type != "cuda":
        return True
    total = sum(s.x.numel() * s.x.element_size() for s in (data.train, data.val, data.test))
    free, _ = torch.cuda.mem_get_info(device)
    return total < free // 4
