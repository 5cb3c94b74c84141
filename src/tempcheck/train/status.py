"""What ``fit`` returns: the per-epoch :class:`History` and the members' final status.

Member status (docs/theory.md §3, "say plainly when a member did not learn"):
- ``diverged``: its training loss became NaN/inf; it is frozen at that epoch (see
  ``train/freezing.py``), the others go on.
- ``stalled``: it ends with training accuracy below chance + ``stall_margin``.
- ``ok`` otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


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

    def mark_diverged(self, members: list[int], epoch: int) -> None:
        for m in members:
            self.status[m] = "diverged"
            self.diverged_epoch[m] = epoch


def finite_or_none(values: torch.Tensor) -> list[float | None]:
    """A (K,) tensor as JSON-safe floats: NaN/inf (a diverged member) become None."""
    return [float(v) if math.isfinite(float(v)) else None for v in values.tolist()]


def mark_stalled(history: History, num_classes: int, stall_margin: float) -> None:
    """Members still ``ok`` whose last training accuracy is below chance + ``stall_margin``
    become ``stalled``; the last record's status is updated to match."""
    chance = 1.0 / max(1, num_classes)
    final_acc = history.last("train_acc")
    for m, status in enumerate(history.status):
        if status == "ok":
            acc = final_acc[m] if m < len(final_acc) and final_acc[m] is not None else 0.0
            if acc < chance + stall_margin:
                history.status[m] = "stalled"
    if history.records:
        history.records[-1]["status"] = list(history.status)
