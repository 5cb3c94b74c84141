"""Training objectives: what a bank minimises, per member, at each step.

``fit`` asks its objective for ``loss(logits, y, x, progress) -> (K,)`` (one loss per member,
summed by the loop so each member gets exactly its own gradient) and for the members'
current temperatures (for logging and for the evaluation NLL). The default is the tempered
cross-entropy at fixed per-member temperatures; learnable or scheduled temperatures and
distillation are other objectives with the same interface.
"""

from __future__ import annotations

import torch

from ..softmax import check_temperature, tempered_cross_entropy


class Objective:
    """Interface. ``progress`` is the fraction of training done, in [0, 1)."""

    def loss(self, logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor,
             progress: float) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def temperatures(self, progress: float = 1.0) -> torch.Tensor:  # pragma: no cover
        """Current (K,) training temperatures."""
        raise NotImplementedError

    def parameters(self) -> list[torch.nn.Parameter]:
        """Extra trainable parameters with a leading member axis K (e.g. learnable log τ)."""
        return []

    def to(self, device: torch.device) -> Objective:
        return self

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None


class TemperedCrossEntropy(Objective):
    """CE_{τ_k}(z_k, y) with fixed per-member temperatures and optional label smoothing."""

    def __init__(self, temperatures, label_smoothing: float = 0.0):
        self.tau = check_temperature(temperatures).float().reshape(-1)
        self.label_smoothing = label_smoothing

    def to(self, device: torch.device) -> TemperedCrossEntropy:
        self.tau = self.tau.to(device)
        return self

    def temperatures(self, progress: float = 1.0) -> torch.Tensor:
        return self.tau

    def loss(self, logits, y, x, progress):
        return tempered_cross_entropy(logits.float(), y, self.tau,
                                      label_smoothing=self.label_smoothing)
