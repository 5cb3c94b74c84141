"""Fit a bank: K members, each with its own temperature and learning rate, in one pass.

``fit`` trains every member on the same batches (order fixed by the data seed and the epoch),
with loss Σ_k CE_{τ_k}(z_k, y) so each member receives exactly the gradient it would get alone.
It returns a :class:`History` and never prints; progress goes through a ``Progress`` handle.

The pieces live beside it: ``step.py`` (one optimisation step, the epoch's training tally,
the learning-rate schedule), ``freezing.py`` (diverged members stop changing),
``epoch_eval.py`` (the per-epoch evaluation), ``status.py`` (History, diverged/stalled status)
and ``streams.py`` (the run's random streams; ``fit`` never seeds torch's global generator for
its caller).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..data.base import DatasetSplits
from ..data.loader import BatchLoader
from ..progress import NullProgress, Progress, member_extremes
from ..softmax import check_temperature
from .epoch_eval import EpochProbe, epoch_evaluation
from .freezing import MemberFreezer
from .objectives import Objective, TemperedCrossEntropy
from .optim import BankOptimizer
from .status import History, finite_or_none, mark_stalled
from .step import EpochTally, LearningRateSchedule, TrainStep, autocast_for
from .streams import RandomStreams

__all__ = ["FitOptions", "History", "RandomStreams", "coupled_learning_rates", "fit"]


@dataclass(frozen=True)
class FitOptions:
    """Everything ``fit`` needs besides the model, data, temperatures and learning rates."""

    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    betas: tuple = (0.9, 0.999)
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    step_epochs: int = 30
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    stall_margin: float = 0.1
    eval_every: int = 1
    eval_batch_size: int = 512
    precision: str = "fp32"  # "fp32" | "bf16" (autocast)
    adv_train: str = "none"  # "none" | "pgd" | "trades"
    adv_options: dict = field(default_factory=dict)


def _check_members(model, temperatures, lrs) -> tuple[torch.Tensor, torch.Tensor]:
    tau = check_temperature(temperatures).float().reshape(-1)
    k = int(tau.shape[0])
    if getattr(model, "members", k) != k:
        raise ValueError(f"{k} temperatures for a bank of {model.members} members")
    lrs = torch.as_tensor(lrs, dtype=torch.float32).reshape(-1)
    if lrs.shape[0] != k:
        raise ValueError(f"{lrs.shape[0]} learning rates for {k} members")
    return tau, lrs


def _adversarial_loss(model, objective: Objective, options: FitOptions):
    if options.adv_train == "none":
        return None
    from .adversarial import adversarial_loss  # lazy: attacks are only needed here

    def loss(x, y):
        return adversarial_loss(model, x, y, objective.temperatures(),
                                method=options.adv_train, return_logits=True,
                                **options.adv_options)
    return loss


def fit(
    model: torch.nn.Module,
    data: DatasetSplits,
    *,
    temperatures,
    lrs,
    options: FitOptions = FitOptions(),
    seed: int = 0,
    streams: RandomStreams | None = None,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    progress: Progress | None = None,
    start_state: dict | None = None,
    on_epoch_end: Callable[[int, Callable[[], dict]], None] | None = None,
    objective: Objective | None = None,
    epoch_probe: EpochProbe | None = None,
) -> History:
    """Train ``model`` (a bank of K members) in place and return its :class:`History`.

    Args:
        temperatures: ``(K,)`` training temperature τ_k of each member (finite, > 0).
        lrs: ``(K,)`` base learning rate of each member (coupling η = η̃·τ^a is applied by the
            caller, see ``coupled_learning_rates``).
        seed: the data seed, shorthand for ``streams=RandomStreams(seed)``.
        streams: the run's random streams (batch order, augmentation, and the epoch-seeded
            fork of the global generator that dropout-like layers draw from); they depend on
            (seed, epoch) only, so a resumed run draws what an uninterrupted one would.
            Torch's global generator is left as the caller had it.
        augment: ``f(x, generator) -> x`` applied to each training batch (on its device).
        start_state: a dict from a previous ``on_epoch_end`` snapshot to resume from.
        on_epoch_end: called as ``on_epoch_end(epoch, snapshot)`` after each epoch; calling
            ``snapshot()`` returns a resumable state dict (model, optimiser, history).
        objective: what each member minimises (``train/objectives.py``); default the tempered
            cross-entropy at ``temperatures`` with ``options.label_smoothing``. Its extra
            parameters (e.g. a learnable log τ, leading axis K) are optimised with the bank's.
        epoch_probe: ``probe(logits (N, K, C), labels (N,), τ (K,)) -> {name: [K values]}``,
            called at every evaluation epoch on up to ``eval_batch_size`` validation inputs; its
            values join that epoch's record (e.g. gradient balance through training,
            ``analysis.epoch.epoch_statistics``).
    """
    progress = progress or NullProgress()
    streams = streams if streams is not None else RandomStreams(seed)
    device = next(model.parameters()).device
    tau, lrs = _check_members(model, temperatures, lrs)
    k = int(tau.shape[0])
    if objective is None:
        objective = TemperedCrossEntropy(tau, options.label_smoothing)
    objective = objective.to(device)
    opt = BankOptimizer(
        [p for p in model.parameters() if p.requires_grad] + list(objective.parameters()),
        lrs, kind=options.optimizer,
        momentum=options.momentum, nesterov=options.nesterov,
        weight_decay=options.weight_decay, betas=tuple(options.betas),
    )
    loader = BatchLoader(data.train, batch_size=options.batch_size, shuffle=True,
                         seed=streams.order, drop_last=len(data.train) > options.batch_size)
    schedule = LearningRateSchedule(options, len(loader))
    autocast = autocast_for(device, options.precision)

    history = History(status=["ok"] * k, diverged_epoch=[None] * k)
    active = torch.ones(k, dtype=torch.bool)
    start_epoch = 0
    if start_state is not None:
        model.load_state_dict(start_state["model"])
        opt.load_state_dict(start_state["optimizer"])
        objective.load_state_dict(start_state.get("objective", {}))
        history = History.from_dict(start_state["history"])
        active = torch.tensor([s != "diverged" for s in history.status])
        start_epoch = int(start_state["epoch"]) + 1
    freezer = MemberFreezer(model, active)
    train_step = TrainStep(model, objective, opt, freezer, schedule, autocast,
                           _adversarial_loss(model, objective, options))

    def snapshot() -> dict:
        # copies: the caller may keep the snapshot while training goes on
        return {"model": {n: t.detach().clone() for n, t in model.state_dict().items()},
                "optimizer": opt.state_dict(), "objective": objective.state_dict(),
                "history": copy.deepcopy(history.to_dict()), "epoch": epoch}

    t_start = time.perf_counter() - history.seconds
    task = progress.task("train", total=options.epochs - start_epoch)
    for epoch in range(start_epoch, options.epochs):
        model.train()
        tally = EpochTally(k, device)
        with streams.model_rng(epoch, device):
            aug_gen = streams.augment(epoch)
            for i, (xb, yb) in enumerate(loader.epoch(epoch)):
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                if augment is not None:
                    xb = augment(xb, aug_gen)
                if device.type == "cuda" and xb.dim() == 4:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                losses, logits, newly = train_step(xb, yb, epoch * schedule.steps_per_epoch + i)
                history.mark_diverged(newly, epoch)
                tally.add(losses, logits, yb)
        record = _epoch_record(epoch, tally, opt, schedule, objective, options)
        if (epoch + 1) % max(1, options.eval_every) == 0 or epoch == options.epochs - 1:
            record.update(epoch_evaluation(
                model, data, batch_size=options.eval_batch_size, autocast=autocast,
                tau=objective.temperatures((epoch + 1) / options.epochs).detach(),
                epoch_probe=epoch_probe))
        record["status"] = list(history.status)
        history.records.append(record)
        history.seconds = time.perf_counter() - t_start
        train_loss, train_acc = tally.means()
        active = freezer.active
        # the best and the worst member (a mean over members would hide a failing one)
        task.update(1, **member_extremes(train_acc.tolist(), record["temperature"],
                                         active.tolist(), name="train_acc"))
        if on_epoch_end is not None:
            on_epoch_end(epoch, snapshot)
    task.close()
    mark_stalled(history, getattr(model, "num_classes", data.num_classes), options.stall_margin)
    history.seconds = time.perf_counter() - t_start
    return history


def _epoch_record(epoch: int, tally: EpochTally, opt: BankOptimizer,
                  schedule: LearningRateSchedule, objective: Objective,
                  options: FitOptions) -> dict:
    """The training part of an epoch record: loss, accuracy, the learning rate of the epoch's
    last step and the members' temperatures at the epoch's end."""
    train_loss, train_acc = tally.means()
    last_step = (epoch + 1) * schedule.steps_per_epoch - 1
    tau_now = objective.temperatures((epoch + 1) / options.epochs).detach()
    return {
        "epoch": epoch,
        "train_loss": finite_or_none(train_loss),
        "train_acc": finite_or_none(train_acc),
        "lr": [float(v) for v in (opt.lrs * schedule.factor(last_step)).tolist()],
        "temperature": [float(t) for t in tau_now.tolist()],
    }


def coupled_learning_rates(base_lrs, temperatures, exponent: float) -> torch.Tensor:
    """η_k = η̃_k · τ_k^a (docs/theory.md §3): a = 0 no coupling, 1 Adam-like, 2 linearised SGD."""
    tau = check_temperature(temperatures).double().reshape(-1)
    base = torch.as_tensor(base_lrs, dtype=torch.float64).reshape(-1)
    if base.numel() == 1:
        base = base.expand_as(tau)
    return (base * tau.pow(exponent)).float()
