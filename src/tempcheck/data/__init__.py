"""Dataset sources; importing this package registers them by name."""

from ..registry import register
from .base import DatasetSplits, Split, as_float
from .digits import load_digits_splits
from .loader import BatchLoader

register("dataset", "digits")(load_digits_splits)

from . import sources  # noqa: E402,F401  cifar10, cifar100, tinyimagenet, imagefolder
from . import text_sources  # noqa: E402,F401  imdb, textfile

__all__ = ["BatchLoader", "DatasetSplits", "Split", "as_float", "load_digits_splits"]
