"""Helpers shared by the tests (importable as ``support``: tests/ is on pytest's pythonpath).

Fixtures built on these live in tests/conftest.py; shared helpers of one area stay beside its
tests (tests/attacks/helpers_attacks.py, tests/data/helpers_cifar.py), also importable by name.
"""

from __future__ import annotations

import functools

from tempcheck.data.base import DatasetSplits, Split
from tempcheck.registry import load_dataset


@functools.lru_cache(maxsize=None)
def digits() -> DatasetSplits:
    """The embedded digits dataset (8×8 grey images, 10 classes), loaded once per session."""
    return load_dataset("digits")


def digits_subset(n_train: int, n_val: int | None = None, n_test: int | None = None
                  ) -> DatasetSplits:
    """The first ``n_train`` / ``n_val`` / ``n_test`` examples of each digits split (None: the
    whole split): small, fixed data for fast training tests."""
    d = digits()

    def head(split: Split, n: int | None) -> Split:
        return split if n is None else Split(split.x[:n], split.y[:n])

    return DatasetSplits(d.name, head(d.train, n_train), head(d.val, n_val),
                         head(d.test, n_test), d.num_classes, d.in_channels, d.image_size,
                         d.mean, d.std)
