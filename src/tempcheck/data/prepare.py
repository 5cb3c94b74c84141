"""Steps shared by the on-disk image loaders (CIFAR, image folders): loader options, the seeded
validation carve, per-channel statistics of uint8 images, and the ``DatasetSplits`` assembly."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .base import DatasetSplits, Split


def parse_loader_options(cls, options: dict, dataset: str):
    """Build the frozen options dataclass ``cls`` from ``data.options`` with the one option
    parser (:func:`tempcheck.config.parse_options`): unknown keys and values of the wrong type
    are ConfigErrors naming ``data.options.<key>``."""
    from ..config import parse_options

    return parse_options(cls, dict(options), "data.options")


def default_val_size(n_train: int, val_size: int | None) -> int:
    """The number of training images held out for validation: ``val_size`` when given, else
    10 % of the training set (CIFAR's 45,000 / 5,000 convention, scaled)."""
    n_val = round(0.1 * n_train) if val_size is None else int(val_size)
    if not 0 <= n_val < n_train:
        raise ConfigError(
            f"data.options.val_size must be in [0, {n_train}) for {n_train} training images, "
            f"got {n_val}"
        )
    return n_val


def carve_validation(
    n: int, n_val: int, seed: int | list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted index arrays ``(train, val)`` of a seeded random split of ``range(n)``."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def channel_stats(x: np.ndarray | torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images ``(N, C, H, W)``, on the [0, 1]
    scale. Exact and memory-light: a 256-bin histogram per channel instead of a float copy."""
    arr = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[0] == 0:
        raise ValueError(f"channel_stats needs non-empty uint8 (N, C, H, W), got {arr.shape}")
    values = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(arr.shape[1]):
        counts = np.bincount(arr[:, c].reshape(-1), minlength=256).astype(np.float64)
        total = counts.sum()
        mean = float((counts * values).sum() / total)
        var = float((counts * (values - mean) ** 2).sum() / total)
        means.append(mean)
        stds.append(max(var, 1e-12) ** 0.5)
    return tuple(means), tuple(stds)


def assemble_splits(
    name: str, *, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
    test_y: np.ndarray, num_classes: int, class_names: list[str], split_seed: int,
    val_size: int | None, val: tuple[np.ndarray, np.ndarray] | None = None,
    extra: dict | None = None,
) -> DatasetSplits:
    """uint8 arrays ``(N, C, S, S)`` + int labels → :class:`DatasetSplits` (kept uint8).

    The validation split is ``val`` when the source provides one, else carved from the
    training images with ``split_seed``; mean/std come from the final training split."""
    for what, x, y in (("training", train_x, train_y), ("test", test_x, test_y)):
        if len(x) == 0:
            raise DataError(f"dataset {name} has no {what} images")
        if len(x) != len(y):
            raise DataError(f"dataset {name}: {len(x)} {what} images but {len(y)} labels")
    if val is None:
        n_val = default_val_size(len(train_x), val_size)
        tr, va = carve_validation(len(train_x), n_val, split_seed)
        val_x, val_y = train_x[va], train_y[va]
        train_x, train_y = train_x[tr], train_y[tr]
    else:
        val_x, val_y = val

    def split(x: np.ndarray, y: np.ndarray) -> Split:
        return Split(
            torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)),
            torch.from_numpy(np.asarray(y, dtype=np.int64)),
        )

    mean, std = channel_stats(train_x)
    return DatasetSplits(
        name=name, train=split(train_x, train_y), val=split(val_x, val_y),
        test=split(test_x, test_y), num_classes=num_classes, in_channels=int(train_x.shape[1]),
        image_size=int(train_x.shape[-1]), mean=mean, std=std, class_names=list(class_names),
        extra=dict(extra or {}),
    )
