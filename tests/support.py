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


def every_evaluation_config(*, temperatures: str, seeds: str, epochs: int):
    """The digits config with a tiny cnn (widths 8-8-8) and every evaluation on small samples
    (2 corruptions of 16 images, 16 attacked images): a whole report's worth of run folder in
    seconds. ``temperatures`` / ``seeds`` as YAML lists, e.g. ``"[0.5, 5.0]"``."""
    from tempcheck.config import load_config

    return load_config(None, [
        f"train.epochs={epochs}", "model.options.widths=[8, 8, 8]",
        f"sweep.temperatures={temperatures}", f"sweep.seeds={seeds}",
        "eval.corruption.n_images=16", "eval.corruption.corruptions=[gaussian_noise, fog]",
        "eval.adversarial.n_examples=16"])
