"""Dataset sources; importing this package registers them by name."""

from ..registry import register
from . import idx_sources, sources, text_sources  # noqa: F401  mnist family; cifar ...; imdb
from .base import DatasetSplits, Split, as_float
from .digits import load_digits_splits
from .loader import BatchLoader

register("dataset", "digits")(load_digits_splits)

__all__ = ["BatchLoader", "DatasetSplits", "Split", "as_float", "load_digits_splits"]
