"""More training objectives for ``fit`` (interface in ``train/objectives.py``): a learnable
temperature, a scheduled temperature, and knowledge distillation (docs/theory.md §7).

Each returns one loss per member ``(K,)`` from banked logits ``(B, K, C)``, so the sum the loop
back-propagates gives every member exactly its own gradient (the bank-equivalence property).
``fit`` logs ``temperatures(progress)`` per epoch in metrics.jsonl, so the trajectory of a
learnable or scheduled τ is recorded with the run.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..softmax import TemperatureLike, check_temperature, distillation_loss, tempered_cross_entropy
from .objectives import Objective
from .temperature import LearnableTemperature, scheduled_temperature


def _cross_entropy_at(logits: torch.Tensor, y: torch.Tensor, tau: torch.Tensor,
                      label_smoothing: float) -> torch.Tensor:
    """Mean CE_τ per member ``(K,)`` with τ a (K,) tensor that may carry a gradient
    (``tempered_cross_entropy`` validates τ by value, which detaches it)."""
    log_p = F.log_softmax(logits.float() / tau.float().view(1, -1, 1), dim=-1)  # (B, K, C)
    nll = -log_p.gather(-1, y.view(-1, 1, 1).expand(-1, log_p.shape[1], 1)).squeeze(-1)
    if label_smoothing > 0.0:
        nll = (1.0 - label_smoothing) * nll - label_smoothing * log_p.mean(dim=-1)
    return nll.mean(dim=0)


class LearnableTemperatureObjective(Objective):
    """CE_{τ_k}(z_k, y) where each member's τ_k is learned with its weights.

    τ is a :class:`~tempcheck.train.temperature.LearnableTemperature`; its ``offset`` ``(K,)``
    is returned by :meth:`parameters`, so ``fit``'s bank optimiser updates it with member k's
    learning rate (and weight decay, which pulls τ_k back toward its initial value).

    Note: CE_τ(z) only depends on z/τ, so (z, τ) → (cz, cτ) leaves the loss unchanged; what τ
    converges to is set by the optimiser's dynamics, not by the loss alone.
    """

    def __init__(self, init: TemperatureLike, *, members: int | None = None,
                 bounds: tuple[float | None, float | None] | None = None,
                 clamp: str = "smooth", label_smoothing: float = 0.0):
        self.temperature = LearnableTemperature(init, members=members, bounds=bounds,
                                                clamp=clamp)
        self.label_smoothing = label_smoothing

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.temperature.offset]

    def to(self, device: torch.device) -> LearnableTemperatureObjective:
        self.temperature.to(device)  # in place: the Parameter object is kept
        return self

    def temperatures(self, progress: float = 1.0) -> torch.Tensor:
        return self.temperature().detach()

    def loss(self, logits, y, x, progress):
        return _cross_entropy_at(logits, y, self.temperature(), self.label_smoothing)

    def state_dict(self) -> dict:
        return {"temperature": self.temperature.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.temperature.load_state_dict(state["temperature"])


class ScheduledTemperatureObjective(Objective):
    """CE_{τ_k(p)}(z_k, y) with τ_k moving from ``start[k]`` to ``end[k]`` over training
    progress p ∈ [0, 1] along the schedule ``kind`` (constant, linear, cosine, exponential;
    ``train/temperature.py``)."""

    def __init__(self, start: TemperatureLike, end: TemperatureLike, *, kind: str = "cosine",
                 label_smoothing: float = 0.0):
        self.start = check_temperature(start, name="start temperature").reshape(-1)
        self.end = check_temperature(end, name="end temperature").reshape(-1)
        scheduled_temperature(0.0, self.start, self.end, kind)  # validates kind and shapes
        self.kind, self.label_smoothing = kind, label_smoothing
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> ScheduledTemperatureObjective:
        self.device = torch.device(device)
        return self

    def temperatures(self, progress: float = 1.0) -> torch.Tensor:
        tau = scheduled_temperature(progress, self.start, self.end, self.kind)
        return tau.float().to(self.device)

    def loss(self, logits, y, x, progress):
        return tempered_cross_entropy(logits.float(), y, self.temperatures(progress),
                                      label_smoothing=self.label_smoothing)


class DistillationObjective(Objective):
    """Knowledge distillation of a frozen teacher into a student bank, one member per
    distillation temperature T_k (Hinton et al. 2015; :func:`tempcheck.softmax.distillation_loss`):

        L_k = α_k·CE(z_k, y) + (1 − α_k)·T_k²·KL(softmax(t/T_k) ‖ softmax(z_k/T_k))

    Args:
        teacher: ``f(x) -> logits`` ``(B, C)`` (shared by all members) or ``(B, K, C)``, called
            on each (augmented) training batch under ``torch.no_grad``. The caller keeps it in
            eval mode and folds the teacher's own temperature in (e.g. returns z_t / τ_t).
        temperatures: distillation temperatures T ``(K,)``.
        alpha: hard-label weight α ∈ [0, 1], scalar or ``(K,)`` (α_k = 1: plain CE baseline).
        predict_temperature: the temperature the student predicts at, which ``fit`` uses for
            the validation / test NLL and logs as "temperature": 1 (Hinton et al. use T only in
            training). The distillation temperatures are ``distill_temperatures``.
    """

    def __init__(self, teacher: Callable[[torch.Tensor], torch.Tensor],
                 temperatures: TemperatureLike, alpha=0.5, *, predict_temperature: float = 1.0):
        self.teacher = teacher
        self.distill_temperatures = check_temperature(
            temperatures, name="distillation temperature").float().reshape(-1)
        k = self.distill_temperatures.shape[0]
        self.alpha = torch.as_tensor(alpha, dtype=torch.float32)
        if self.alpha.dim() == 1 and self.alpha.shape[0] != k:
            raise ValueError(f"{self.alpha.shape[0]} alphas for {k} members")
        self.predict = check_temperature(predict_temperature).float() * torch.ones(k)

    def to(self, device: torch.device) -> DistillationObjective:
        # T and α stay on the CPU: distillation_loss validates them by value each step
        self.predict = self.predict.to(device)
        return self

    def temperatures(self, progress: float = 1.0) -> torch.Tensor:
        return self.predict

    def loss(self, logits, y, x, progress):
        with torch.no_grad():
            teacher_logits = self.teacher(x).float()
        return distillation_loss(logits.float(), teacher_logits, y, self.distill_temperatures,
                                 self.alpha)
