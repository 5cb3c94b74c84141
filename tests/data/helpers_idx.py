"""Write MNIST-family folders in the exact published IDX layout, built byte by byte here (not
with tempcheck's own writer, so a bug there cannot hide a bug in the reader).

Every image carries its own index in its first two pixels (low byte, high byte), so a test can
tell which source image ended up where; the rest of the image is a class-dependent pattern.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Magic 0x00 0x00 0x08 ndim, one big-endian uint32 per dimension, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def make_images(labels: np.ndarray, side: int = 28, seed: int = 0) -> np.ndarray:
    """uint8 (N, side, side): index in pixels (0, 0) and (0, 1), a bright band per class."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    images = rng.integers(0, 60, size=(n, side, side), dtype=np.uint8)
    for i, c in enumerate(labels):
        row = 2 + int(c) * (side - 4) // 10
        images[i, row : row + 2, 2:-2] = 230
    index = np.arange(n)
    images[:, 0, 0] = index % 256
    images[:, 0, 1] = index // 256
    return images


def balanced_labels(n: int, seed: int) -> np.ndarray:
    """n labels 0..9 in a seeded order, as equal per class as n allows."""
    return np.random.default_rng(seed).permutation(np.arange(n) % 10).astype(np.uint8)


def write_family(folder: Path, *, n_train: int = 600, n_test: int = 100, gz: bool = False,
                 side: int = 28, train_labels: np.ndarray | None = None) -> dict:
    """The four files in ``folder`` (raw, or ``.gz`` when ``gz``); returns the arrays and paths."""
    folder.mkdir(parents=True, exist_ok=True)
    ytr = balanced_labels(n_train, 1) if train_labels is None else train_labels.astype(np.uint8)
    yte = balanced_labels(n_test, 2)
    arrays = {
        "train_images": make_images(ytr, side, seed=3), "train_labels": ytr,
        "test_images": make_images(yte, side, seed=4), "test_labels": yte,
    }
    paths = {}
    for key, array in arrays.items():
        payload = idx_bytes(array)
        path = folder / (NAMES[key] + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(payload) if gz else payload)
        paths[key] = path
    return {**arrays, "paths": paths, "folder": folder}


def image_index(x) -> np.ndarray:
    """Source index of each loaded image (N, 1, S, S), read back from its first two pixels."""
    first = np.asarray(x)[:, 0, 0, :2].astype(np.int64)
    return first[:, 0] + 256 * first[:, 1]
