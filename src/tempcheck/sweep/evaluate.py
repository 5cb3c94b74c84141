"""Run a list of evaluations on one bank: what a group does after training, and what
``tempcheck evaluate`` does to a model trained elsewhere."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import Config
from ..data.base import DatasetSplits
from ..eval.base import EvalContext
from ..evaluations import Evaluation, run_function
from ..progress import NullProgress, Progress


@dataclass
class BankEvaluation:
    """Everything the evaluations returned: per-member results.csv columns, ``arrays.npz``
    entries (``<evaluation>/<key>``), ``eval.json`` content and long-format table rows."""

    columns: dict[str, list] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)


def evaluate_bank(model: torch.nn.Module, data: DatasetSplits, temperatures: torch.Tensor,
                  evaluations: list[Evaluation], config: Config, *, device: torch.device,
                  seed: int, progress: Progress | None = None) -> BankEvaluation:
    """Run every group-scope evaluation on ``model`` (eval mode; ``temperatures`` (K,) the τ
    each member's predictive distribution softmax(z/τ_k) is scored at), sharing one cache."""
    progress = progress or NullProgress()
    out = BankEvaluation()
    cache: dict = {}
    group_evals = [ev for ev in evaluations if ev.scope == "group"]
    # one steady line per finished evaluation, with the elapsed time and an ETA for the rest
    overall = progress.task("evaluations", total=len(group_evals))
    for ev in group_evals:
        if ev.image_only and data.kind != "image":
            out.info[ev.name] = {"skipped": f"{ev.name} needs images; dataset {data.name} is text"}
            overall.update(1, skipped=ev.name)
            continue
        t0 = time.perf_counter()
        ctx = EvalContext(model=model, data=data, temperatures=temperatures, device=device,
                          seed=seed, batch_size=config.eval.batch_size,
                          options=config.eval.options_for(ev.name),
                          baseline_temperature=config.eval.baseline_temperature,
                          progress=progress, cache=cache)
        with progress.task(f"eval {ev.name}", total=None):
            result = run_function(ev)(ctx)
        out.columns.update(result.columns)
        out.arrays.update({f"{ev.name}/{k}": np.asarray(v) for k, v in result.arrays.items()})
        # the evaluation's own "seconds" (e.g. per attack) is kept; this adds its wall time
        out.info[ev.name] = {**result.info, "eval_seconds": round(time.perf_counter() - t0, 3)}
        for tname, trows in result.tables.items():
            out.tables.setdefault(tname, []).extend(trows)
        overall.update(1, done=ev.name)
    overall.close()
    return out
