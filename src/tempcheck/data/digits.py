"""``digits``: scikit-learn's embedded handwritten digits (docs/theory.md §8).

1,797 grey 8×8 images, values 0–16 (scaled here to [0, 1]), 10 classes; ships inside
scikit-learn, so nothing is downloaded. Splits are stratified and fixed by ``split_seed``:
by default 1,257 train / 180 validation / 360 test.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import DatasetSplits, Split


def _stratified_split(y: np.ndarray, fractions: tuple[float, float], seed: int):
    """Indices (train, val, test) with each class split in the given (val, test) fractions."""
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = int(round(len(idx) * fractions[0]))
        n_test = int(round(len(idx) * fractions[1]))
        val.append(idx[:n_val])
        test.append(idx[n_val : n_val + n_test])
        train.append(idx[n_val + n_test :])
    return tuple(np.sort(np.concatenate(part)) for part in (train, val, test))


def load_digits_splits(
    *, split_seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2, **_: object
) -> DatasetSplits:
    """Load digits as float32 ``(N, 1, 8, 8)`` in [0, 1] with stratified seeded splits."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
    y_np = bunch.target.astype(np.int64)
    y = torch.from_numpy(y_np)
    tr, va, te = _stratified_split(y_np, (val_fraction, test_fraction), split_seed)
    tr, va, te = (torch.from_numpy(i) for i in (tr, va, te))
    mean = float(x[tr].mean())
    std = float(x[tr].std())
    return DatasetSplits(
        name="digits", train=Split(x[tr], y[tr]), val=Split(x[va], y[va]),
        test=Split(x[te], y[te]), num_classes=10, in_channels=1, image_size=8,
        mean=(mean,), std=(std,), class_names=[str(i) for i in range(10)],
    )
