"""A restricted unpickler for CIFAR's "python version" files (docs/theory.md §8).

A pickle is a program: every ``GLOBAL`` / ``STACK_GLOBAL`` opcode names a callable that the
standard unpickler imports and may call, so a crafted file can run ``os.system`` on load.
:class:`SafeUnpickler` resolves globals from a fixed allow-list instead of importing anything,
and refuses every other name with a :class:`DataError` *before* it is imported or called.

Admitted (exactly what CIFAR's pickles need, whether written by Python 2 with numpy 1.x or
re-pickled by Python 3 with numpy 2.x):

- builtin containers and scalars (dicts, lists, tuples, ints, floats, strings and bytes are
  opcodes, not globals; ``set``, ``frozenset``, ``bytearray`` ... are admitted by name under both
  ``builtins`` and Python 2's ``__builtin__``);
- numpy arrays: ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``,
  ``numpy.ndarray``, ``numpy.dtype``, numpy scalars (``multiarray.scalar``) and, for protocol-5
  re-pickles, ``numeric._frombuffer``;
- ``_codecs.encode`` restricted to latin-1, which Python 3 emits for ``bytes`` at protocol < 3.

Object arrays are refused after loading (their elements would be arbitrary objects).
"""

from __future__ import annotations

import builtins
import codecs
import io
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
else:  # numpy 1.x; numpy.core is deprecated from 2.0 on
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3 pickles ``bytes`` at protocol 2, and nothing else."""
    if codecs.lookup(encoding).name != "iso8859-1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1", errors)


_BUILTIN_NAMES = (
    "set", "frozenset", "bytearray", "list", "dict", "tuple", "int", "float", "complex",
    "bool", "str", "bytes", "slice", "range",
)

_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _module in ("builtins", "__builtin__"):
    for _name in _BUILTIN_NAMES:
        _ALLOWED[(_module, _name)] = getattr(builtins, _name)
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(_module, "scalar")] = _multiarray.scalar
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _numeric._frombuffer  # protocol-5 arrays

# what a corrupt or truncated pickle raises from inside the C unpickler
_LOAD_ERRORS = (
    pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, LookupError,
    MemoryError, OverflowError, struct.error, UnicodeDecodeError, RecursionError,
)


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` only returns allow-listed objects.

    Args:
        file: a binary file object.
        source: the file's name, quoted in error messages.
        encoding: how Python 2 ``str`` objects are decoded; ``"bytes"`` (the CIFAR convention)
            keeps them as bytes, so keys read back as ``b"data"``, ``b"labels"``.
    """

    def __init__(self, file: io.BufferedIOBase, *, source: str, encoding: str = "bytes"):
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise DataError(
                f"{self.source}: refused to load global {module}.{name} "
                "(only builtin containers and numpy arrays are allowed in a data pickle)"
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self.source}: refused a persistent reference in a data pickle")


def _refuse_objects(value: Any, source: str, depth: int = 0) -> None:
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        raise DataError(f"{source}: refused a numpy array of Python objects in a data pickle")
    if depth < 4 and isinstance(value, dict):
        for v in value.values():
            _refuse_objects(v, source, depth + 1)
    elif depth < 4 and isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, (np.ndarray, dict, list, tuple)):
                _refuse_objects(v, source, depth + 1)


def safe_load(path: str | Path, *, encoding: str = "bytes") -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler`.

    Raises :class:`DataError` (one line, naming the file) when the file is missing, truncated or
    corrupt, or names a global outside the allow-list.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot open {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            value = SafeUnpickler(handle, source=str(path), encoding=encoding).load()
        except DataError:
            raise
        except _LOAD_ERRORS as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{path}: not a readable data pickle ({detail})") from None
    _refuse_objects(value, str(path))
    return value


def as_str_keys(mapping: Any, source: str) -> dict[str, Any]:
    """A loaded CIFAR dict with its keys as ``str`` (Python 2 pickles give bytes keys)."""
    if not isinstance(mapping, dict):
        raise DataError(f"{source}: expected a pickled dict, got {type(mapping).__name__}")
    out = {}
    for key, value in mapping.items():
        out[key.decode("latin1") if isinstance(key, bytes) else str(key)] = value
    return out
