"""The MNIST family from its IDX files: ``mnist``, ``fashion_mnist``, ``kmnist``.

Each dataset is the four standard files (raw or ``.gz``, see :mod:`tempcheck.data.idx`)::

    train-images-idx3-ubyte   60,000 x 28 x 28 uint8     t10k-images-idx3-ubyte   10,000 x 28 x 28
    train-labels-idx1-ubyte   60,000 labels 0..9         t10k-labels-idx1-ubyte   10,000 labels

Where they are looked for (the first folder holding ``train-images-idx3-ubyte[.gz]`` wins):

1. ``--data-dir DIR`` (``data.data_dir``) when given: ``DIR`` itself, then its sub-folders named
   after the dataset (``DIR/fashion_mnist``, ``DIR/fashion-mnist``, torchvision's
   ``DIR/FashionMNIST/raw``); nothing else.
2. Otherwise the folder in the environment variable ``TEMPCHECK_DATA`` (same sub-folders), then
   ``/usr/share/datasets/<name>``, where Debian's ``dataset-*`` packages install
   (``apt-get install dataset-fashion-mnist`` gives ``/usr/share/datasets/fashion-mnist``).

When nothing is found the error lists every place looked at and the command that gets the data.
Nothing is ever downloaded.

Splits: the 10,000 ``t10k`` images are the test split. The 60,000 training images are split,
stratified by class and fixed by ``split_seed``, into 55,000 train / 5,000 validation
(``data.options.val_size``); ``data.options.train_size`` optionally keeps a stated, stratified
subset of the 55,000 for training. Images stay uint8 ``(N, 1, 28, 28)`` in memory (47 MB).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..registry import register
from .base import DatasetSplits
from .idx import read_images, read_labels
from .prepare import assemble_splits, parse_loader_options

ENV_VAR = "TEMPCHECK_DATA"
SYSTEM_FOLDER = Path("/usr/share/datasets")
IMAGE_SIZE = (28, 28)
NUM_CLASSES = 10
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class IdxDatasetSpec:
    """One member of the MNIST family: its names on disk, its classes, its attack radius.

    ``eps`` is the L∞ radius the adversarial evaluation uses by default for this dataset (the
    literature's convention, ``eps_reason`` says which)."""

    name: str
    folders: tuple[str, ...]  # sub-folders of a data folder that may hold the four files
    system_folder: str  # /usr/share/datasets/<this>
    class_names: tuple[str, ...]
    eps: float
    eps_reason: str
    get_data: str  # the one command that gets the files

    def describe(self) -> str:
        return f"{self.name}: 28 x 28 grey, {NUM_CLASSES} classes, 55,000 / 5,000 / 10,000"


SPECS = {
    "mnist": IdxDatasetSpec(
        name="mnist", folders=("mnist", "MNIST/raw"), system_folder="mnist",
        class_names=tuple(str(i) for i in range(10)),
        eps=0.3, eps_reason="MNIST: 0.3 (Madry et al. 2018, the MNIST challenge's radius)",
        get_data="put the four MNIST IDX files in a folder and pass --data-dir=PATH",
    ),
    "fashion_mnist": IdxDatasetSpec(
        name="fashion_mnist", folders=("fashion_mnist", "fashion-mnist", "FashionMNIST/raw"),
        system_folder="fashion-mnist",
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
        eps=0.1, eps_reason="Fashion-MNIST: 0.1, the radius most robustness studies use for it",
        get_data="apt-get install dataset-fashion-mnist (as root), or pass --data-dir=PATH",
    ),
    "kmnist": IdxDatasetSpec(
        name="kmnist", folders=("kmnist", "KMNIST/raw"), system_folder="kmnist",
        # the ten hiragana of Kuzushiji-MNIST, romanised (report fonts lack kana)
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        eps=0.1, eps_reason="KMNIST: 0.1 (no settled convention; as for Fashion-MNIST)",
        get_data="put the four KMNIST IDX files in a folder and pass --data-dir=PATH",
    ),
}


@dataclass(frozen=True)
class IdxOptions:
    """``data.options`` of the MNIST family.

    Attributes:
        val_size: training images held out for validation, stratified (default 5,000).
        train_size: keep only this many of the remaining training images (stratified); None
            keeps all 55,000.
    """

    val_size: int = 5000
    train_size: int | None = None


def _find_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` or ``folder/stem.gz`` (raw first: it reads faster), else None."""
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def search_places(spec: IdxDatasetSpec, data_dir: str | Path | None) -> list[Path]:
    """The folders looked at, in order (see the module docstring)."""
    def with_subfolders(root: Path) -> list[Path]:
        return [root, *(root / sub for sub in spec.folders)]

    if data_dir is not None and str(data_dir) != "":
        return with_subfolders(Path(data_dir).expanduser())
    places = []
    env = os.environ.get(ENV_VAR, "")
    if env:
        places += with_subfolders(Path(env).expanduser())
    places.append(SYSTEM_FOLDER / spec.system_folder)
    return places


def find_idx_files(spec: IdxDatasetSpec, data_dir: str | Path | None) -> dict[str, Path]:
    """The four files of ``spec`` (keys of :data:`FILES`); a DataError saying where it looked
    when no folder holds them, or naming the file missing from the folder that holds some."""
    places = search_places(spec, data_dir)
    for folder in places:
        if _find_file(folder, FILES["train_images"]) is None:
            continue
        found = {key: _find_file(folder, stem) for key, stem in FILES.items()}
        missing = [FILES[key] for key, path in found.items() if path is None]
        if missing:
            raise DataError(
                f"{spec.name}: {folder} holds {FILES['train_images']} but not "
                f"{', '.join(f'{m}[.gz]' for m in missing)}"
            )
        return found
    where = ", ".join(str(p) for p in places)
    if data_dir is None or str(data_dir) == "":
        env = os.environ.get(ENV_VAR, "")
        where = (f"${ENV_VAR} {'not set' if not env else 'and its sub-folders'}; " + where)
    raise DataError(
        f"{spec.name} not found: no {FILES['train_images']}[.gz] in {where}; "
        f"to get it: {spec.get_data}"
    )


def stratified_take(y: np.ndarray, n: int, seed: int | list[int]) -> np.ndarray:
    """Sorted indices of ``n`` items of ``y`` drawn per class in proportion to its size.

    Each class c of n_c items gives n · n_c / N, rounded so the total is exactly ``n`` (the
    largest remainders round up; ties go to the smaller class label). Fixed by ``seed``."""
    classes, counts = np.unique(y, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    short = n - int(quota.sum())
    if short:
        order = np.argsort(-(exact - quota), kind="stable")
        quota[order[:short]] += 1
    rng = np.random.default_rng(seed)
    taken = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(taken))


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_images(images_path, size=IMAGE_SIZE)
    labels = read_labels(labels_path, num_classes=NUM_CLASSES)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path}: {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return images[:, None], labels.astype(np.int64)  # (N, 1, 28, 28), (N,)


def load_idx_dataset(
    name: str, *, data_dir: str | Path | None = None, split_seed: int = 0,
    download: bool = False, **options: object,
) -> DatasetSplits:
    """Load ``"mnist"``, ``"fashion_mnist"`` or ``"kmnist"`` as uint8 :class:`DatasetSplits`.

    Args:
        data_dir: the folder holding the four files, or its parent (see the module docstring);
            None searches ``$TEMPCHECK_DATA`` and ``/usr/share/datasets``.
        split_seed: fixes the stratified train / validation split (and the optional subset).
        download: not supported (the family is never downloaded); accepted for the common
            loader signature.
        options: :class:`IdxOptions` fields.
    """
    del download
    spec = SPECS[name]
    opts = parse_loader_options(IdxOptions, dict(options), name)
    files = find_idx_files(spec, data_dir)
    train_x, train_y = _read_pair(files["train_images"], files["train_labels"])
    test_x, test_y = _read_pair(files["test_images"], files["test_labels"])
    if not 0 < opts.val_size < len(train_y):
        raise DataError(
            f"data.options.val_size must be in 1..{len(train_y) - 1} for {name}'s "
            f"{len(train_y)} training images, got {opts.val_size}"
        )
    val_idx = stratified_take(train_y, opts.val_size, split_seed)
    keep = np.setdiff1d(np.arange(len(train_y)), val_idx, assume_unique=True)
    if opts.train_size is not None:
        if not 0 < opts.train_size <= len(keep):
            raise DataError(
                f"data.options.train_size must be in 1..{len(keep)} for {name}, "
                f"got {opts.train_size}"
            )
        # a second, independent stream of the split seed: the subset never moves the val split
        keep = keep[stratified_take(train_y[keep], opts.train_size, [split_seed, 1])]
    return assemble_splits(
        name, train_x=train_x[keep], train_y=train_y[keep], test_x=test_x, test_y=test_y,
        num_classes=NUM_CLASSES, class_names=list(spec.class_names), split_seed=split_seed,
        val_size=None, val=(train_x[val_idx], train_y[val_idx]),
        extra={
            "source": str(files["train_images"].parent),
            "files": {key: str(path) for key, path in files.items()},
            "adversarial_eps": spec.eps, "adversarial_eps_reason": spec.eps_reason,
        },
    )


def _register(name: str) -> None:
    def load(*, data_dir: str | Path | None = None, split_seed: int = 0,
             download: bool = False, **options: object) -> DatasetSplits:
        return load_idx_dataset(name, data_dir=data_dir, split_seed=split_seed,
                                download=download, **options)

    load.__name__ = f"load_{name}"
    load.__doc__ = SPECS[name].describe() + " (IDX files; see tempcheck.data.idx_sources)."
    register("dataset", name)(load)


for _name in SPECS:
    _register(_name)
