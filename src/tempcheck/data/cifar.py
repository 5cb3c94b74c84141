"""CIFAR-10 and CIFAR-100 from the official "python version" files (docs/theory.md §8).

Layout (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html):

- CIFAR-10: ``cifar-10-batches-py/data_batch_1`` … ``data_batch_5`` and ``test_batch``, each a
  pickled dict with ``data`` (N × 3072 uint8: the R, G and B planes of a 32 × 32 image, row
  major) and ``labels``; ``batches.meta`` holds ``label_names``.
- CIFAR-100: ``cifar-100-python/train`` and ``test`` with ``fine_labels`` (100 classes) and
  ``coarse_labels`` (20 superclasses); ``meta`` holds ``fine_label_names`` /
  ``coarse_label_names``.

The files are Python 2 pickles (protocol 2, bytes keys); they are read with the restricted
unpickler of :mod:`tempcheck.data.safe_pickle`, never with ``pickle.load``. Images stay uint8
``(N, 3, 32, 32)`` in memory (150 MB for CIFAR's 50,000 training images) and are converted per
batch by :func:`tempcheck.data.base.as_float`. The validation split is carved from the training
set with ``split_seed`` (45,000 / 5,000 by default); the official test set is the test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .base import DatasetSplits
from .download import fetch, safe_extract
from .prepare import assemble_splits, parse_loader_options
from .safe_pickle import as_str_keys, safe_load

_SIDE = 32
_PIXELS = 3 * _SIDE * _SIDE


@dataclass(frozen=True)
class CifarSpec:
    """Where one CIFAR variant lives on disk and on the web."""

    name: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_keys: dict  # label mode -> (labels key, names key, number of classes)
    url: str
    md5: str

    @property
    def archive(self) -> str:
        return self.url.rsplit("/", 1)[-1]


SPECS = {
    "cifar10": CifarSpec(
        name="cifar10", folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_files=("test_batch",),
        meta_file="batches.meta", label_keys={"fine": ("labels", "label_names", 10)},
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
    ),
    "cifar100": CifarSpec(
        name="cifar100", folder="cifar-100-python", train_files=("train",),
        test_files=("test",), meta_file="meta",
        label_keys={
            "fine": ("fine_labels", "fine_label_names", 100),
            "coarse": ("coarse_labels", "coarse_label_names", 20),
        },
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
    ),
}


@dataclass(frozen=True)
class CifarOptions:
    """``data.options`` of the CIFAR loaders.

    Attributes:
        val_size: training images held out for validation (default 10 %: 5,000 of 50,000).
        labels: CIFAR-100 only: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
    """

    val_size: int | None = None
    labels: str = "fine"


def find_folder(spec: CifarSpec, data_dir: str | Path) -> Path | None:
    """The extracted folder: ``data_dir`` itself or ``data_dir/<spec.folder>``, else None."""
    data_dir = Path(data_dir).expanduser()
    for candidate in (data_dir / spec.folder, data_dir):
        if (candidate / spec.train_files[0]).is_file():
            return candidate
    return None


def download_cifar(spec: CifarSpec, data_dir: str | Path) -> Path:
    """Fetch and extract the official tarball into ``data_dir``; return the extracted folder."""
    data_dir = Path(data_dir).expanduser()
    archive = fetch(spec.url, data_dir / spec.archive, md5=spec.md5)
    safe_extract(archive, data_dir)
    folder = find_folder(spec, data_dir)
    if folder is None:
        raise DataError(f"{archive} did not contain {spec.folder}/{spec.train_files[0]}")
    return folder


def _labels_array(value, path: Path, n: int, num_classes: int, key: str) -> np.ndarray:
    try:
        labels = np.asarray(value)
    except (TypeError, ValueError):
        labels = np.empty(0)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != n:
        raise DataError(
            f"{path}: {key!r} must be {n} integer labels, got "
            f"{getattr(labels, 'shape', '?')} of {labels.dtype}"
        )
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels[(labels < 0) | (labels >= num_classes)][0])
        raise DataError(f"{path}: label {bad} out of range [0, {num_classes})")
    return labels.astype(np.int64)


def read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch → uint8 images ``(N, 3, 32, 32)`` and int64 labels ``(N,)``."""
    if not path.is_file():
        raise DataError(f"missing CIFAR file {path}")
    batch = as_str_keys(safe_load(path), str(path))
    for key in ("data", label_key):
        if key not in batch:
            raise DataError(f"{path}: no {key!r} entry (keys: {', '.join(sorted(batch))})")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != _PIXELS:
        shape = getattr(data, "shape", type(data).__name__)
        dtype = getattr(data, "dtype", "")
        raise DataError(f"{path}: 'data' must be N x {_PIXELS} uint8, got {shape} {dtype}")
    labels = _labels_array(batch[label_key], path, len(data), num_classes, label_key)
    # rows hold the R, G, B planes one after another: (N, 3072) -> (N, 3, 32, 32)
    return data.reshape(-1, 3, _SIDE, _SIDE), labels


def _class_names(folder: Path, spec: CifarSpec, names_key: str, num_classes: int) -> list[str]:
    path = folder / spec.meta_file
    if not path.is_file():  # the names are a convenience; the labels are what matter
        return [str(i) for i in range(num_classes)]
    meta = as_str_keys(safe_load(path), str(path))
    names = meta.get(names_key)
    if not isinstance(names, list) or len(names) != num_classes:
        raise DataError(f"{path}: {names_key!r} must list {num_classes} class names")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]


def load_cifar(
    name: str, *, data_dir: str | Path, split_seed: int = 0, download: bool = False,
    **options: object,
) -> DatasetSplits:
    """Load ``"cifar10"`` or ``"cifar100"`` as uint8 :class:`DatasetSplits`.

    Args:
        data_dir: the extracted folder (``cifar-10-batches-py``) or its parent.
        split_seed: fixes which training images form the validation split.
        download: fetch the official tarball into ``data_dir`` when the files are absent
            (MD5-checked, safe extraction); without it nothing is downloaded.
        options: :class:`CifarOptions` fields.
    """
    spec = SPECS[name]
    opts = parse_loader_options(CifarOptions, dict(options), name)
    if opts.labels not in spec.label_keys:
        raise ConfigError(
            f"data.options.labels for {name} must be one of {', '.join(spec.label_keys)}, "
            f"got {opts.labels!r}"
        )
    label_key, names_key, num_classes = spec.label_keys[opts.labels]
    folder = find_folder(spec, data_dir)
    if folder is None:
        if not download:
            raise DataError(
                f"{name} not found in {data_dir} (expected {spec.folder}/{spec.train_files[0]}); "
                "pass --download to fetch it"
            )
        folder = download_cifar(spec, data_dir)
    train = [read_batch(folder / f, label_key, num_classes) for f in spec.train_files]
    test = [read_batch(folder / f, label_key, num_classes) for f in spec.test_files]
    return assemble_splits(
        name,
        train_x=np.concatenate([x for x, _ in train]),
        train_y=np.concatenate([y for _, y in train]),
        test_x=np.concatenate([x for x, _ in test]),
        test_y=np.concatenate([y for _, y in test]),
        num_classes=num_classes, class_names=_class_names(folder, spec, names_key, num_classes),
        split_seed=split_seed, val_size=opts.val_size,
        extra={"source": str(folder), "labels": opts.labels},
    )
