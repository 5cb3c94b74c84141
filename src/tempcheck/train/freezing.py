"""Freezing diverged members: a member whose loss is NaN/inf stops changing, the others go on.

The optimiser skips inactive members' slices (``BankOptimizer.step(active=...)``); what it does
not own are the per-member buffers (BatchNorm running statistics), which a train-mode forward
would keep updating from the member's NaN activations. :class:`MemberFreezer` holds the
``active`` mask and restores frozen members' buffers after every step.
"""

from __future__ import annotations

import torch


def bank_buffers(model: torch.nn.Module, k: int) -> list[torch.Tensor]:
    """The model's buffers with a leading member axis K (running statistics)."""
    return [b for b in model.buffers() if b.dim() >= 1 and b.shape[0] == k]


class MemberFreezer:
    """The ``active`` mask ``(K,)`` (CPU, bool) of a bank and the frozen members' buffers.

    Args:
        model: the bank; its K-leading buffers are the ones kept still.
        active: initial mask (all True for a fresh run; from the history when resuming).
    """

    def __init__(self, model: torch.nn.Module, active: torch.Tensor):
        self.model = model
        self.active = active.clone().bool()
        self.k = int(active.shape[0])
        self._frozen: list[torch.Tensor] = []

    def update(self, finite: torch.Tensor) -> list[int]:
        """Deactivate members whose loss is not ``finite`` ``(K,)`` (CPU bool); returns the
        members newly frozen (their buffers are captured now, before this step's update)."""
        newly = self.active & ~finite
        if not newly.any():
            return []
        self.active = self.active & finite
        self._frozen = [b.detach().clone() for b in bank_buffers(self.model, self.k)]
        return torch.nonzero(newly).flatten().tolist()

    def restore_buffers(self) -> None:
        """Put frozen members' buffers back (BatchNorm statistics must not drift either)."""
        if bool(self.active.all()) or not self._frozen:
            return
        for saved, b in zip(self._frozen, bank_buffers(self.model, self.k)):
            keep = (~self.active).to(b.device).view(-1, *([1] * (b.dim() - 1)))
            b.copy_(torch.where(keep, saved, b))
