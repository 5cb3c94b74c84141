"""``python:`` model names: a user's factory of a plain ``nn.Module``, banked with torch.func.

Two spellings (``--model`` on the command line, ``model.name`` in a config):

- ``python:package.module:factory`` imports ``package.module`` (an installed package, or a
  module or package in the current directory) and calls ``factory``;
- ``python:path/to/file.py:factory`` loads the file (relative to the current directory).

The factory's keyword options come from ``model.options``; it also receives ``num_classes``,
``in_channels`` and ``image_size`` when its signature takes them. The result is a
:class:`~.functional_bank.FunctionalBank`, so sweeps, every evaluation and the report treat it
like a native family.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelError

PREFIX = "python:"


def is_python_model(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def _load_file(path: Path, spec_text: str):
    if not path.is_file():
        raise ModelError(f"model {spec_text}: file {str(path)!r} does not exist")
    # a stable module name per absolute path, so two files called nets.py do not collide
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"tempcheck_user_model_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _import_from_here(source: str):
    """``import source``; if its top-level package is not on ``sys.path``, try again with the
    current directory appended (as ``python -m`` would see it; the ``tempcheck`` console
    script's ``sys.path`` starts at its own bin folder instead)."""
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        if exc.name != source.split(".")[0] or here in sys.path:
            raise
        sys.path.append(here)
        return importlib.import_module(source)


def resolve_factory(spec_text: str) -> Callable:
    """The callable named by ``python:<module or file.py>:<factory>``; one-line errors."""
    body = spec_text[len(PREFIX):]
    source, sep, attr = body.rpartition(":")
    if not sep or not source or not attr:
        raise ModelError(f"model {spec_text!r} must look like python:package.module:factory "
                         "or python:path/to/file.py:factory")
    try:
        if source.endswith(".py"):
            module = _load_file(Path(source), spec_text)
        else:
            module = _import_from_here(source)
    except ModuleNotFoundError as exc:
        raise ModelError(f"model {spec_text}: cannot import {exc.name!r} "
                         "(is it on sys.path? a file path must end in .py)") from None
    except SyntaxError as exc:
        raise ModelError(f"model {spec_text}: syntax error in {exc.filename} line "
                         f"{exc.lineno}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ModelError(f"model {spec_text}: {source} has no callable {attr!r}")
    return factory


def python_model_constructor(spec_text: str) -> Callable:
    """A registry-style constructor (``members=, seeds=, num_classes=, ... , **options``)."""
    from .functional_bank import create_functional_bank

    factory = resolve_factory(spec_text)
    return functools.partial(create_functional_bank, factory, spec_text)


def check_python_model(name: str, head_init_scale: float, kwargs: dict) -> None:
    """Build a one-member bank of a ``python:`` model with the keywords a group would pass
    (``kwargs``: model options and data keywords), probing it: a factory that cannot be banked
    fails here, before a sweep writes anything. Native names: nothing."""
    if is_python_model(name):
        python_model_constructor(name)(members=1, seeds=[0], head_init_scale=head_init_scale,
                                       **kwargs)
