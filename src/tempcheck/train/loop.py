"""Fit a bank: K members, each with its own temperature and learning rate, in one pass.

``fit`` trains every member on the same batches (order fixed by the data seed and the epoch),
with loss Σ_k CE_{τ_k}(z_k, y) so each member receives exactly the gradient it would get alone.
It returns a :class:`History` and never prints; progress goes through a ``Progress`` handle.

Member status (docs/theory.md §3, "say plainly when a member did not learn"):
- ``diverged``: its training loss became NaN/inf; it is frozen at that epoch (parameters,
  optimiser state and BatchNorm statistics stop changing), the others go on.
- ``stalled``: it ends with training accuracy below chance + ``stall_margin``.
- ``ok`` otherwise.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .. import metrics
from ..data.base import DatasetSplits, as_float
from ..data.loader import BatchLoader, epoch_generator
from ..progress import NullProgress, Progress, member_extremes
from ..softmax import check_temperature, scale_logits
from .objectives import Objective, TemperedCrossEntropy
from .optim import BankOptimizer
from .schedules import lr_factor


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


@dataclass
class History:
    """Per-epoch records (each value a list over members) plus final member status."""

    records: list[dict] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    diverged_epoch: list[int | None] = field(default_factory=list)
    seconds: float = 0.0

    def last(self, key: str) -> list:
        for rec in reversed(self.records):
            if key in rec:
                return rec[key]
        return []

    def to_dict(self) -> dict:
        return {
            "records": self.records, "status": self.status,
            "diverged_epoch": self.diverged_epoch, "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(d["records"], d["status"], d["diverged_epoch"], d.get("seconds", 0.0))


def _bank_buffers(model: torch.nn.Module, k: int) -> list[torch.Tensor]:
    return [b for b in model.buffers() if b.dim() >= 1 and b.shape[0] == k]


@torch.no_grad()
def _evaluate_split(model, split, batch_size, autocast, tau) -> tuple[torch.Tensor, torch.Tensor]:
    """(accuracy (K,), NLL (K,)) of a split in eval mode; the NLL is that of the member's own
    predictive distribution softmax(z / τ_k)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    logits = []
    for lo in range(0, len(split), batch_size):
        with autocast():
            logits.append(model(as_float(split.x[lo : lo + batch_size].to(device))).float())
    model.train(was)
    z = torch.cat(logits)
    y = split.y.to(z.device)
    return metrics.accuracy(z, y).cpu(), metrics.nll(scale_logits(z, tau), y).cpu()


def _clean(values: torch.Tensor) -> list[float | None]:
    return [float(v) if math.isfinite(float(v)) else None for v in values.tolist()]


def fit(
    model: torch.nn.Module,
    data: DatasetSplits,
    *,
    temperatures,
    lrs,
    options: FitOptions = FitOptions(),
    seed: int = 0,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    progress: Progress | None = None,
    start_state: dict | None = None,
    on_epoch_end: Callable[[int, Callable[[], dict]], None] | None = None,
    objective: Objective | None = None,
    epoch_probe: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict] | None = None,
) -> History:
    """Train ``model`` (a bank of K members) in place and return its :class:`History`.

    Args:
        temperatures: ``(K,)`` training temperature τ_k of each member (finite, > 0).
        lrs: ``(K,)`` base learning rate of each member (coupling η = η̃·τ^a is applied by the
            caller, see ``coupled_learning_rates``).
        seed: the data seed: batch order and augmentation depend on (seed, epoch) only.
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
    device = next(model.parameters()).device
    tau = check_temperature(temperatures).float().reshape(-1)
    k = int(tau.shape[0])
    if getattr(model, "members", k) != k:
        raise ValueError(f"{k} temperatures for a bank of {model.members} members")
    lrs = torch.as_tensor(lrs, dtype=torch.float32).reshape(-1)
    if lrs.shape[0] != k:
        raise ValueError(f"{lrs.shape[0]} learning rates for {k} members")
    if objective is None:
        objective = TemperedCrossEntropy(tau, options.label_smoothing)
    objective = objective.to(device)
    opt = BankOptimizer(
        [p for p in model.parameters() if p.requires_grad] + list(objective.parameters()),
        lrs, kind=options.optimizer,
        momentum=options.momentum, nesterov=options.nesterov,
        weight_decay=options.weight_decay, betas=tuple(options.betas),
    )
    loader = BatchLoader(data.train, batch_size=options.batch_size, shuffle=True, seed=seed,
                         drop_last=len(data.train) > options.batch_size)
    steps_per_epoch = len(loader)
    total_steps = steps_per_epoch * options.epochs
    warmup = int(round(options.warmup_epochs * steps_per_epoch))
    use_bf16 = options.precision == "bf16"

    def autocast():
        if use_bf16:
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    adv_loss = None
    if options.adv_train != "none":
        from .adversarial import adversarial_loss  # lazy: attacks are only needed here

        def adv_loss(x, y):
            return adversarial_loss(model, x, y, objective.temperatures(),
                                    method=options.adv_train, return_logits=True,
                                    **options.adv_options)

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
    frozen_buffers: dict[int, torch.Tensor] = {}

    def snapshot() -> dict:
        # copies: the caller may keep the snapshot while training goes on
        return {"model": {n: t.detach().clone() for n, t in model.state_dict().items()},
                "optimizer": opt.state_dict(), "objective": objective.state_dict(),
                "history": copy.deepcopy(history.to_dict()), "epoch": epoch}

    t_start = time.perf_counter() - history.seconds
    task = progress.task("train", total=options.epochs - start_epoch)
    for epoch in range(start_epoch, options.epochs):
        model.train()
        # dropout and other global-RNG users become a function of (seed, epoch): resumable
        torch.manual_seed(int(epoch_generator(seed, epoch, stream=2).initial_seed()))
        aug_gen = epoch_generator(seed, epoch, stream=1)
        loss_sum = torch.zeros(k, dtype=torch.float64)
        correct = torch.zeros(k, dtype=torch.float64)
        seen = 0
        for i, (xb, yb) in enumerate(loader.epoch(epoch)):
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if augment is not None:
                xb = augment(xb, aug_gen)
            if device.type == "cuda" and xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast():
                if adv_loss is not None:
                    losses, logits = adv_loss(xb, yb)
                else:
                    logits = model(xb)
                    done = (epoch * steps_per_epoch + i) / max(1, total_steps)
                    losses = objective.loss(logits, yb, xb, done)  # (K,)
            finite = torch.isfinite(losses.detach()).cpu()
            newly = active & ~finite
            if newly.any():
                for m in torch.nonzero(newly).flatten().tolist():
                    history.status[m] = "diverged"
                    history.diverged_epoch[m] = epoch
                active = active & finite
                bufs = _bank_buffers(model, k)
                frozen_buffers = {j: b.detach().clone() for j, b in enumerate(bufs)}
            mask = active.to(device)
            loss = torch.where(mask, losses, torch.zeros_like(losses)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step(lr_factor(epoch * steps_per_epoch + i, total_steps,
                               schedule=options.schedule, warmup_steps=warmup,
                               step_every=options.step_epochs * steps_per_epoch,
                               gamma=options.step_gamma), active)
            if not bool(active.all()) and frozen_buffers:
                # BatchNorm statistics of frozen members must not drift either
                for j, b in enumerate(_bank_buffers(model, k)):
                    keep = (~active).to(b.device).view(-1, *([1] * (b.dim() - 1)))
                    b.copy_(torch.where(keep, frozen_buffers[j], b))
            with torch.no_grad():
                loss_sum += losses.detach().double().cpu() * yb.shape[0]
                correct += (logits.detach().argmax(-1) == yb.unsqueeze(1)).sum(0).double().cpu()
            seen += yb.shape[0]
        train_loss, train_acc = loss_sum / seen, correct / seen
        record = {
            "epoch": epoch,
            "train_loss": _clean(train_loss),
            "train_acc": _clean(train_acc),
            "lr": [float(v) for v in (opt.lrs * lr_factor(
                (epoch + 1) * steps_per_epoch - 1, total_steps, schedule=options.schedule,
                warmup_steps=warmup, step_every=options.step_epochs * steps_per_epoch,
                gamma=options.step_gamma)).tolist()],
        }
        tau_dev = objective.temperatures((epoch + 1) / options.epochs).detach()
        record["temperature"] = [float(t) for t in tau_dev.tolist()]
        last_epoch = epoch == options.epochs - 1
        if (epoch + 1) % max(1, options.eval_every) == 0 or last_epoch:
            val_acc, val_nll = _evaluate_split(model, data.val, options.eval_batch_size, autocast,
                                               tau_dev)
            test_acc, test_nll = _evaluate_split(model, data.test, options.eval_batch_size,
                                                 autocast, tau_dev)
            with torch.no_grad():
                was = model.training
                model.eval()
                probe = as_float(data.val.x[: options.eval_batch_size].to(device))
                with autocast():
                    z = model(probe).float()
                norm = metrics.mean_logit_norm(z).cpu()
                if epoch_probe is not None:
                    y_probe = data.val.y[: options.eval_batch_size].to(z.device)
                    record.update(epoch_probe(z, y_probe, tau_dev))
                beta_norm = metrics.mean_logit_norm(scale_logits(z, tau_dev)).cpu()
                model.train(was)
            record.update(val_acc=_clean(val_acc), val_nll=_clean(val_nll),
                          test_acc=_clean(test_acc), test_nll=_clean(test_nll),
                          logit_norm=_clean(norm), beta_logit_norm=_clean(beta_norm))
        record["status"] = list(history.status)
        history.records.append(record)
        history.seconds = time.perf_counter() - t_start
        # the best and the worst member (a mean over members would hide a failing one)
        task.update(1, **member_extremes(train_acc.tolist(), tau_dev.tolist(), active.tolist(),
                                         name="train_acc"))
        if on_epoch_end is not None:
            on_epoch_end(epoch, snapshot)
    task.close()
    chance = 1.0 / max(1, getattr(model, "num_classes", data.num_classes))
    final_acc = history.last("train_acc")
    for m in range(k):
        if history.status[m] == "ok":
            acc = final_acc[m] if m < len(final_acc) and final_acc[m] is not None else 0.0
            if acc < chance + options.stall_margin:
                history.status[m] = "stalled"
    if history.records:
        history.records[-1]["status"] = list(history.status)
    history.seconds = time.perf_counter() - t_start
    return history


def coupled_learning_rates(base_lrs, temperatures, exponent: float) -> torch.Tensor:
    """η_k = η̃_k · τ_k^a (docs/theory.md §3): a = 0 no coupling, 1 Adam-like, 2 linearised SGD."""
    tau = check_temperature(temperatures).double().reshape(-1)
    base = torch.as_tensor(base_lrs, dtype=torch.float64).reshape(-1)
    if base.numel() == 1:
        base = base.expand_as(tau)
    return (base * tau.pow(exponent)).float()
