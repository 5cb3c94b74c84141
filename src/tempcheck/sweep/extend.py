"""Add evaluations to a finished group from its saved checkpoint (``--resume --eval X``).

A finished group (``done.json``) is normally skipped by ``--resume``. When the resumed sweep
asks for an evaluation the group's ``eval.json`` does not hold yet, ``add_evaluations`` rebuilds
the bank from ``checkpoint.pt`` (the final weights, and the training history for learned or
scheduled τ), runs only the missing evaluations, and merges their columns, arrays, ``eval.json``
entries and table rows into the group's files — no retraining, and nothing already measured is
recomputed or changed. ``done.json`` records which evaluations were added and when.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from ..config import Config
from ..errors import RunFolderError
from ..progress import NullProgress, Progress
from ..train.loop import History
from . import store
from .evaluate import evaluate_bank
from .evaluations import Evaluation
from .logits_files import member_logits_file, save_member_logits
from .plan import Group


def missing_evaluations(gdir: Path, evaluations: list[Evaluation]) -> list[Evaluation]:
    """Group-scope evaluations of ``evaluations`` that the finished group has not run."""
    path = Path(gdir) / "eval.json"
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return [ev for ev in evaluations if ev.scope == "group" and ev.name not in info]


def annotate_tables(tables: dict[str, list[dict]], group: Group) -> None:
    """Give every long-format table row its member's group, τ, seed and lr (in place)."""
    for trows in tables.values():
        for r in trows:
            m = group.members[int(r["member"])]
            r.update(group=group.name, temperature=m.temperature, seed=m.seed, lr=m.lr)


def add_evaluations(root: Path, config: Config, group: Group, evaluations: list[Evaluation], *,
                    progress: Progress | None = None) -> tuple[list[dict], dict[str, list[dict]]]:
    """Run ``evaluations`` on the finished group's saved bank and merge them into its files
    (and write its members' logits files when it has none); returns the group's updated
    (results rows, table rows)."""
    from .. import recipe
    from .group import _fits_on, store_json

    progress = progress or NullProgress()
    gdir = Path(root) / "groups" / group.name
    ckpt_path = gdir / "checkpoint.pt"
    if not ckpt_path.is_file():
        raise RunFolderError(f"group {group.name} has no checkpoint.pt; cannot add "
                             f"{', '.join(ev.name for ev in evaluations)} without retraining")
    device = recipe.resolve_device(config.train.device)
    data = recipe.load_data(config)
    data_dev = data.to(device) if _fits_on(data, device) else data
    state = store.load_checkpoint(ckpt_path)
    model = recipe.build_model(config, data, [m.seed for m in group.members]).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    taus = torch.tensor([m.temperature for m in group.members])
    final_taus = History.from_dict(state["history"]).last("temperature")
    if config.train.temperature_mode != "fixed" and final_taus:
        taus = torch.tensor(final_taus, dtype=torch.float32)  # as run_group evaluated them
    if not member_logits_file(gdir, 0).is_file():  # a run made before logits were saved
        save_member_logits(gdir, model, data_dev, taus.tolist(), [m.seed for m in group.members],
                           batch_size=config.eval.batch_size, device=device)
    if not evaluations:
        rows = store_json(gdir / "rows.json")
        tables = store_json(gdir / "tables.json") if (gdir / "tables.json").is_file() else {}
        return rows, tables
    progress.log(f"group {group.name}: adding {', '.join(ev.name for ev in evaluations)} from "
                 "its checkpoint")
    added = evaluate_bank(model, data_dev, taus, evaluations, config, device=device,
                          seed=group.seed, progress=progress)
    rows = store_json(gdir / "rows.json")
    for k, row in enumerate(rows):
        for col, values in added.columns.items():
            row[col] = values[k]
    tables = store_json(gdir / "tables.json") if (gdir / "tables.json").is_file() else {}
    annotate_tables(added.tables, group)
    for name, trows in added.tables.items():
        tables.setdefault(name, []).extend(trows)
    info = store_json(gdir / "eval.json")
    info.update(added.info)
    arrays = {}
    if (gdir / "arrays.npz").is_file():
        with np.load(gdir / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    arrays.update(added.arrays)
    store.atomic_write_npz(gdir / "arrays.npz", arrays)
    store.atomic_write_json(gdir / "tables.json", tables)
    store.atomic_write_json(gdir / "rows.json", rows)
    store.atomic_write_json(gdir / "eval.json", info)  # after the data it describes
    done = store_json(gdir / "done.json")
    done.setdefault("evaluations_added", []).append(
        {"evaluations": [ev.name for ev in evaluations],
         "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    store.atomic_write_json(gdir / "done.json", done)
    return rows, tables


def resumed_sweep_info(old: dict, new: dict) -> dict:
    """sweep.json of a resumed sweep: this run's plan and versions, the original start time and
    earlier sessions kept, and the evaluations of every session (registry order)."""
    from .evaluations import available

    info = dict(new)
    info["started"] = old.get("started", new.get("started"))
    info["sessions"] = list(old.get("sessions") or (
        [{"started": old["started"], "finished": old.get("finished"),
          "wall_seconds": old.get("wall_seconds", 0.0)}] if old.get("started") else []))
    ran = set(old.get("evaluations", [])) | set(new.get("evaluations", []))
    order = [ev.name for ev in available()]
    info["evaluations"] = [n for n in order if n in ran] + sorted(ran - set(order))
    return info
