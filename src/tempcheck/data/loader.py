"""Tensor-resident batch loader with seeded, resumable shuffling.

The permutation of epoch e depends only on ``(seed, e)``, never on a generator's history, so a
run resumed at epoch e sees exactly the batches an uninterrupted run would, and every member of
a bank (which share the data seed) sees the same order.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .base import Split, as_float


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A CPU generator for (seed, epoch, stream): independent streams for order and augmentation."""
    mixed = (int(seed) * 1_000_003 + int(epoch) * 7_919 + stream) % 2**63
    return torch.Generator().manual_seed(mixed)


class BatchLoader:
    """Iterate ``(x, y)`` batches of a :class:`Split` held in memory (on any device).

    Args:
        batch_size: samples per batch.
        shuffle: permute each epoch with :func:`epoch_generator` ``(seed, epoch)``.
        drop_last: drop a final short batch (keeps BatchNorm statistics well defined).
    """

    def __init__(
        self, split: Split, *, batch_size: int, shuffle: bool = False, seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.split, self.batch_size, self.shuffle = split, batch_size, shuffle
        self.seed, self.drop_last = seed, drop_last

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.split)
        if self.shuffle:
            order = torch.randperm(n, generator=epoch_generator(self.seed, epoch))
            order = order.to(self.split.y.device)
        else:
            order = None
        for i in range(len(self)):
            lo, hi = i * self.batch_size, min(n, (i + 1) * self.batch_size)
            if order is None:
                xb, yb = self.split.x[lo:hi], self.split.y[lo:hi]
            else:
                idx = order[lo:hi]
                xb, yb = self.split.x[idx], self.split.y[idx]
            yield as_float(xb), yb

    def __iter__(self):
        return self.epoch(0)
