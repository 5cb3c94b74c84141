"""Registers the on-disk datasets by name: ``cifar10``, ``cifar100``, ``tinyimagenet``,
``imagefolder``.

Every loader has the signature ``(*, data_dir, split_seed=0, download=False, **options) ->
DatasetSplits``; ``options`` are the dataset's ``data.options`` (see
:class:`tempcheck.data.cifar.CifarOptions` and :class:`tempcheck.data.imagefolder.FolderOptions`).
Importing this module registers them; :mod:`tempcheck.data` imports it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..registry import register
from .base import DatasetSplits
from .cifar import CifarOptions, load_cifar
from .imagefolder import FolderOptions, load_imagefolder, load_tinyimagenet

DATA_DIR_HINT = "pass --data.data_dir=PATH"


def _require_dir(name: str, data_dir: str | Path | None, download: bool) -> str | Path:
    if data_dir is None or str(data_dir) == "":
        extra = " (the files are downloaded there)" if download else " (add --download to fetch it)"
        extra = extra if name in ("cifar10", "cifar100") else ""
        raise DataError(f"dataset {name} needs its data folder: {DATA_DIR_HINT}{extra}")
    return data_dir


@register("dataset", "cifar10", options=CifarOptions)
def load_cifar10(
    *, data_dir: str | Path | None = None, split_seed: int = 0, download: bool = False,
    **options: object,
) -> DatasetSplits:
    """CIFAR-10: 10 classes, 50,000 train (45,000 + 5,000 validation) / 10,000 test, 32 × 32."""
    data_dir = _require_dir("cifar10", data_dir, download)
    return load_cifar("cifar10", data_dir=data_dir, split_seed=split_seed, download=download,
                      **options)


@register("dataset", "cifar100", options=CifarOptions)
def load_cifar100(
    *, data_dir: str | Path | None = None, split_seed: int = 0, download: bool = False,
    **options: object,
) -> DatasetSplits:
    """CIFAR-100: 100 fine (or 20 coarse) classes, same sizes as CIFAR-10."""
    data_dir = _require_dir("cifar100", data_dir, download)
    return load_cifar("cifar100", data_dir=data_dir, split_seed=split_seed, download=download,
                      **options)


@register("dataset", "tinyimagenet", options=FolderOptions)
def load_tinyimagenet_source(
    *, data_dir: str | Path | None = None, split_seed: int = 0, download: bool = False,
    **options: object,
) -> DatasetSplits:
    """Tiny-ImageNet: 200 classes, 64 × 64; Tiny's val set is the test split."""
    data_dir = _require_dir("tinyimagenet", data_dir, download)
    return load_tinyimagenet(data_dir=data_dir, split_seed=split_seed, download=download,
                             **options)


@register("dataset", "imagefolder", options=FolderOptions)
def load_imagefolder_source(
    *, data_dir: str | Path | None = None, split_seed: int = 0, download: bool = False,
    **options: object,
) -> DatasetSplits:
    """An ImageNet-style ``root/<class>/<image>`` folder (optionally with train/ val/ test/)."""
    data_dir = _require_dir("imagefolder", data_dir, download)
    return load_imagefolder(data_dir=data_dir, split_seed=split_seed, download=download,
                            **options)
