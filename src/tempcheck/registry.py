"""Register, create and list models and datasets by name.

Families register themselves when their package is imported (``tempcheck.models`` and
``tempcheck.data``); lookups import those packages lazily so ``import tempcheck`` stays light.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from .errors import UnknownNameError

_REGISTRIES: dict[str, dict[str, Callable[..., Any]]] = {"model": {}, "dataset": {}}
_PACKAGES = {"model": "tempcheck.models", "dataset": "tempcheck.data"}


def register(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``@register("model", "cnn")`` on a class or factory function."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRIES[kind][name] = factory
        return factory

    return decorate


def _table(kind: str) -> dict[str, Callable[..., Any]]:
    importlib.import_module(_PACKAGES[kind])
    return _REGISTRIES[kind]


def names(kind: str) -> list[str]:
    """Sorted registered names of ``kind`` ("model" or "dataset")."""
    return sorted(_table(kind))


def lookup(kind: str, name: str) -> Callable[..., Any]:
    """The factory registered under ``name``; an unknown name is a one-line error with hints.

    A model named ``python:<module or file.py>:<factory>`` is the user's own ``nn.Module``
    factory, banked with torch.func (``models/python_model.py``)."""
    if kind == "model" and name.startswith("python:"):
        from .models.python_model import python_model_constructor

        return python_model_constructor(name)
    table = _table(kind)
    if name not in table:
        close = difflib.get_close_matches(name, table, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UnknownNameError(
            f"unknown {kind} {name!r}{hint}; known: {', '.join(sorted(table))}"
        )
    return table[name]


def create_model(name: str, *, conv_mode: str | None = None, **kwargs: Any):
    """Build a bank model by name, e.g. ``create_model("cnn", num_classes=10, in_channels=1,
    image_size=8, members=8, seeds=range(8))``. Keyword-only arguments. ``conv_mode`` (any
    family with banked convolutions, also as the model option ``conv_mode``): how they run,
    see ``BankModel.set_conv_mode``."""
    model = lookup("model", name)(**kwargs)
    if conv_mode is not None:
        if not hasattr(model, "set_conv_mode"):
            raise ValueError(f"model {name!r} has no banked convolutions (conv_mode)")
        model.set_conv_mode(conv_mode)
    return model


def load_dataset(name: str, **kwargs: Any):
    """Load a dataset by name into a :class:`tempcheck.data.base.DatasetSplits`."""
    return lookup("dataset", name)(**kwargs)
