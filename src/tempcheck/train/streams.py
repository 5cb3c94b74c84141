"""The random streams of a training run, all derived from one data seed.

``fit`` never seeds torch's global generator for its caller. Everything random in training is
a function of ``(seed, epoch)`` (so a run resumed at epoch e draws exactly what an uninterrupted
run would):

- ``order``: the batch permutation of each epoch (``data/loader.py``);
- ``augment(epoch)``: the generator handed to the augmentation of every batch;
- ``model_rng(epoch)``: a context in which torch's global generator is *forked* (saved and
  restored on exit) and seeded for the epoch, for layers that can only draw from the global
  generator (``F.dropout``, stochastic depth, the random starts of adversarial training).

Members never get their own training streams: a bank's members share the batches
(DESIGN.md, bank equivalence), and per-member randomness such as dropout masks is drawn
elementwise over the member axis.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..data.loader import epoch_generator

# stream ids inside epoch_generator(seed, epoch, stream); 0 is the batch order (BatchLoader)
_AUGMENT, _MODEL = 1, 2


@dataclass(frozen=True)
class RandomStreams:
    """The streams of one training run. ``seed`` is the data seed (batch order, augmentation,
    dropout); it is *not* an init seed: members draw their initial weights from their own
    seeds when the model is built (``models/base.py``)."""

    seed: int = 0

    @property
    def order(self) -> int:
        """The seed of the epoch permutations (``BatchLoader(seed=...)``)."""
        return int(self.seed)

    def augment(self, epoch: int) -> torch.Generator:
        """A fresh CPU generator for epoch ``epoch``'s augmentation."""
        return epoch_generator(self.seed, epoch, stream=_AUGMENT)

    @contextlib.contextmanager
    def model_rng(self, epoch: int, device: torch.device | None = None) -> Iterator[None]:
        """Run the body with the global generator(s) seeded for ``epoch``; the caller's state
        (CPU, and the CUDA device's when ``device`` is a CUDA device) is restored on exit."""
        devices = [device] if device is not None and device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(epoch_generator(self.seed, epoch, stream=_MODEL).initial_seed()))
            yield
