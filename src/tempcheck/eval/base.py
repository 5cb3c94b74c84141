"""The evaluation contract: what every evaluation receives and returns.

An evaluation is a function ``run(ctx: EvalContext) -> EvalResult`` in a module of
``tempcheck.eval`` or ``tempcheck.analysis`` that also declares ``EVALUATION = Evaluation(...)``:
its name, options class, results.csv columns and report section, in that one place
(``tempcheck.evaluations`` finds the declarations). It works on the whole bank at once (K axis)
and never writes files itself: the sweep stores what it returns.

- ``EvalResult.columns``: per-member values for results.csv, each a list of length K
  (``float("nan')`` / ``""`` where undefined).
- ``EvalResult.arrays``: numpy arrays for the report's figures, stored in the group's
  ``arrays.npz`` as ``"<evaluation>/<key>"``.
- ``EvalResult.info``: JSON-serialisable details, stored in the group's ``eval.json`` under the
  evaluation's name.
- ``EvalResult.tables``: long-format rows (``{"member": k, ...}``) concatenated over groups into
  ``OUT/<table>.csv`` (e.g. ``corruptions.csv``), with group, temperature and seed added.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.base import DatasetSplits, as_float
from ..progress import NullProgress, Progress


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation module declares about itself (``EVALUATION = Evaluation(...)``).

    Attributes:
        name: its name in ``--eval`` and in ``config.eval.<name>`` (its options).
        order: where it runs (lower first; ``clean`` is 0) and where its section appears.
        options: its frozen options dataclass (``config.eval.<name>`` is parsed into it before
            any training starts), or None when it takes no options.
        columns: the results.csv columns it returns, as names or ``fnmatch`` patterns
            (``robust_acc_*``: one per attack); the contract tests hold it to them.
        section: ``(title, module)`` of its report section in ``tempcheck.report`` (the
            section's ``build(run)``), or None.
        image_only: skipped (and says so) for text datasets.
        scope: ``"group"`` — ``run(ctx)`` per bank; ``"sweep"`` — ``run_study`` once per sweep.
        module: filled in by the registry: the module that declared it.
    """

    name: str
    order: int
    summary: str = ""
    options: type | None = None
    columns: tuple[str, ...] = ()
    section: tuple[str, str] | None = None
    image_only: bool = False
    scope: str = "group"
    module: str = ""

    def owns_column(self, column: str) -> bool:
        return any(fnmatch.fnmatchcase(column, pattern) for pattern in self.columns)


@dataclass
class EvalContext:
    """Everything an evaluation may use. The model is in eval mode on ``device``."""

    model: torch.nn.Module
    data: DatasetSplits
    temperatures: torch.Tensor  # (K,) training temperature of each member
    device: torch.device
    seed: int = 0
    batch_size: int = 512
    options: dict = field(default_factory=dict)  # this evaluation's config.eval.<name>
    baseline_temperature: float = 1.0
    progress: Progress = field(default_factory=NullProgress)
    cache: dict = field(default_factory=dict)  # shared between evaluations of one group

    @property
    def members(self) -> int:
        return int(self.temperatures.shape[0])


@dataclass
class StudyContext:
    """What a sweep-level evaluation (``scope="sweep"``) receives: the run folder it writes its
    own files into, the data, its options, and ``model_factory(family, seed)`` returning
    ``make(head_init_scale) -> model``: a K = 1 float64 model in eval mode of ``family`` (None:
    the sweep's own, with its options) for the data."""

    root: Any
    data: DatasetSplits
    model_factory: Any
    options: dict = field(default_factory=dict)
    head_init_scale: float = 1.0
    progress: Progress = field(default_factory=NullProgress)


@dataclass
class EvalResult:
    columns: dict[str, list] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)


@torch.no_grad()
def predict(
    model: torch.nn.Module, x: torch.Tensor, *, batch_size: int = 512,
    device: torch.device | str | None = None, return_features: bool = False,
):
    """Logits ``(N, K, C)`` (and features ``(N, K, D)``) of ``x`` in eval mode, batched; the
    model's train/eval mode is restored afterwards. Results are float32 on the CPU."""
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    logits, feats = [], []
    try:
        for lo in range(0, x.shape[0], batch_size):
            xb = as_float(x[lo : lo + batch_size].to(device))
            if return_features:
                f, z = model(xb, return_features=True)
                feats.append(f.float().cpu())
            else:
                z = model(xb)
            logits.append(z.float().cpu())
    finally:
        model.train(was_training)
    out = torch.cat(logits)
    return (torch.cat(feats), out) if return_features else out


def cached_logits(ctx: EvalContext, split: str) -> torch.Tensor:
    """Logits of ``split`` ("val" / "test"), computed once per group and shared."""
    key = f"logits/{split}"
    if key not in ctx.cache:
        data = getattr(ctx.data, split)
        ctx.cache[key] = predict(ctx.model, data.x, batch_size=ctx.batch_size, device=ctx.device)
    return ctx.cache[key]


def tempered_logits(ctx: EvalContext, split: str) -> torch.Tensor:
    """``z / τ_k`` of ``split``: the logits of each member's own predictive distribution
    softmax(z / τ_k), the one its accuracy, NLL and calibration are measured on."""
    from ..softmax import scale_logits

    return scale_logits(cached_logits(ctx, split), ctx.temperatures.float())


def parse_options(cls, options: dict, evaluation: str):
    """Build the frozen options dataclass ``cls`` from ``config.eval.<evaluation>``: unknown keys
    and values of the wrong type are ConfigErrors naming ``eval.<evaluation>.<key>`` (the one
    option parser, :func:`tempcheck.config.parse_options`)."""
    from ..config import parse_options as parse

    return parse(cls, options, f"eval.{evaluation}")
