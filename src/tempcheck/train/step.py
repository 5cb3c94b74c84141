"""One optimisation step of a bank, and the epoch's running training loss and accuracy.

A step is: forward the shared batch through the bank (or the adversarial objective), the
per-member losses ``(K,)``, freeze members whose loss is not finite, backward the sum of the
active members' losses (so each member receives exactly its standalone gradient), one
``BankOptimizer`` step at the scheduled learning rate, and the frozen members' buffers put back.
The one host read per step is the finiteness of the K losses (a member must be frozen before
its NaN update is applied); the epoch's loss and accuracy sums stay on the device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from .freezing import MemberFreezer
from .objectives import Objective
from .optim import BankOptimizer
from .schedules import lr_factor

AdversarialLoss = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def autocast_for(device: torch.device, precision: str):
    """A factory of autocast contexts: bf16 autocast for ``precision="bf16"``, else none."""
    def autocast():
        if precision == "bf16":
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()
    return autocast


class LearningRateSchedule:
    """The schedule's factor at each optimiser step (``train/schedules.py``), with the run's
    total, warm-up and step lengths fixed."""

    def __init__(self, options, steps_per_epoch: int):
        self.steps_per_epoch = steps_per_epoch
        self.total = steps_per_epoch * options.epochs
        self.kw = dict(schedule=options.schedule,
                       warmup_steps=int(round(options.warmup_epochs * steps_per_epoch)),
                       step_every=options.step_epochs * steps_per_epoch, gamma=options.step_gamma)

    def factor(self, step: int) -> float:
        return lr_factor(step, self.total, **self.kw)

    def progress(self, step: int) -> float:
        """Fraction of training done before ``step``, in [0, 1)."""
        return step / max(1, self.total)


class TrainStep:
    """``step(xb, yb, step_index) -> (losses (K,), logits (B, K, C))``, both detached."""

    def __init__(self, model: torch.nn.Module, objective: Objective, optimizer: BankOptimizer,
                 freezer: MemberFreezer, schedule: LearningRateSchedule, autocast,
                 adversarial_loss: AdversarialLoss | None = None):
        self.model, self.objective, self.optimizer = model, objective, optimizer
        self.freezer, self.schedule, self.autocast = freezer, schedule, autocast
        self.adversarial_loss = adversarial_loss

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor,
                 step: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """One step; also returns the members frozen by it (loss not finite)."""
        with self.autocast():
            if self.adversarial_loss is not None:
                losses, logits = self.adversarial_loss(xb, yb)
            else:
                logits = self.model(xb)
                losses = self.objective.loss(logits, yb, xb, self.schedule.progress(step))  # (K,)
        newly = self.freezer.update(torch.isfinite(losses.detach()).cpu())
        active = self.freezer.active
        mask = active.to(losses.device)
        loss = torch.where(mask, losses, torch.zeros_like(losses)).sum()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step(self.schedule.factor(step), active)
        self.freezer.restore_buffers()
        return losses.detach(), logits.detach(), newly


class EpochTally:
    """Sample-weighted mean training loss and accuracy ``(K,)`` over an epoch's batches
    (float64 sums), kept on ``device`` and read once per epoch: no host copy per step."""

    def __init__(self, k: int, device: torch.device | str = "cpu"):
        self.loss_sum = torch.zeros(k, dtype=torch.float64, device=device)
        self.correct = torch.zeros(k, dtype=torch.float64, device=device)
        self.seen = 0

    @torch.no_grad()
    def add(self, losses: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss_sum += losses.double() * y.shape[0]
        self.correct += (logits.argmax(-1) == y.unsqueeze(1)).sum(0).double()
        self.seen += y.shape[0]

    def means(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean loss (K,), accuracy (K,)) on the CPU."""
        return (self.loss_sum / self.seen).cpu(), (self.correct / self.seen).cpu()
