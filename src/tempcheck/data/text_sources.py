"""Registers the text datasets by name: ``imdb`` and ``textfile`` (``data/text.py``).

Loader signature, as for every on-disk source: ``(*, data_dir, split_seed=0, download=False,
**options) -> DatasetSplits``; ``options`` are ``data.options``
(:class:`tempcheck.data.text.TextOptions`). Importing this module registers them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..registry import register
from .base import DatasetSplits
from .text import TextOptions, load_imdb, load_textfile

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


def _require_dir(name: str, data_dir: str | Path | None) -> str | Path:
    if data_dir is None or str(data_dir) == "":
        raise DataError(f"dataset {name} needs its data: pass --data.data_dir=PATH")
    return data_dir


@register("dataset", "imdb", options=TextOptions)
def load_imdb_source(
    *, data_dir: str | Path | None = None, split_seed: int = 0, download: bool = False,
    **options: object,
) -> DatasetSplits:
    """IMDB sentiment (aclImdb): 2 classes, 25,000 train (minus validation) / 25,000 test."""
    if download and (data_dir is None or not Path(data_dir).exists()):
        raise DataError(f"IMDB is not downloaded by tempcheck: fetch and extract {IMDB_URL}, "
                        "then pass --data.data_dir=PATH")
    return load_imdb(data_dir=_require_dir("imdb", data_dir), split_seed=split_seed, **options)


@register("dataset", "textfile", options=TextOptions)
def load_textfile_source(
    *, data_dir: str | Path | None = None, split_seed: int = 0, download: bool = False,
    **options: object,
) -> DatasetSplits:
    """``label<TAB>text`` lines: a file, or a folder with train.tsv (and test.tsv)."""
    return load_textfile(data_dir=_require_dir("textfile", data_dir), split_seed=split_seed,
                         **options)
