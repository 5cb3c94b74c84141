"""The IDX file format of MNIST, Fashion-MNIST, KMNIST and EMNIST (LeCun et al. 1998).

An IDX file is a big-endian header followed by the raw array, row major:

- 4 bytes of magic: two zero bytes, a type code (0x08 = unsigned byte, the only type the MNIST
  family uses) and the number of dimensions. So images are ``0x00000803`` (N × rows × cols) and
  labels ``0x00000801`` (N).
- one unsigned 32-bit big-endian integer per dimension;
- then exactly ``prod(dims)`` bytes of data.

The files are distributed raw or gzip-compressed (``.gz``); :func:`read_idx` tells them apart by
the gzip signature, not by the name. Nothing here unpickles or executes anything: the reader
checks the header against the file's length before it trusts a single dimension, and every
malformed file is a one-line :class:`~tempcheck.errors.DataError` that names it.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
UBYTE = 0x08
_GZIP_SIGNATURE = b"\x1f\x8b"
_KIND = {IMAGES_MAGIC: "images (N x rows x cols)", LABELS_MAGIC: "labels (N)"}


def _read_bytes(path: Path) -> bytes:
    """The file's contents, decompressed when it is gzip."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] != _GZIP_SIGNATURE:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:  # cut-off or damaged gzip stream
        raise DataError(f"{path}: truncated or corrupt gzip data ({exc})") from None


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes whose magic number must be ``magic``.

    Args:
        path: a raw or gzip-compressed IDX file.
        magic: :data:`IMAGES_MAGIC` (returns uint8 ``(N, rows, cols)``) or :data:`LABELS_MAGIC`
            (returns uint8 ``(N,)``).

    Raises:
        DataError: the file is missing, its magic is not ``magic``, or its data is shorter or
            longer than its header says.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes)")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        raise DataError(
            f"{path}: wrong magic number 0x{found:08x} (expected 0x{magic:08x}, IDX "
            f"{_KIND.get(magic, 'data')})"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    have = len(data) - header
    if have < expected:
        shape = " x ".join(str(d) for d in dims)
        raise DataError(
            f"{path}: truncated data: the header says {shape} = {expected} bytes, "
            f"the file holds {have}"
        )
    if have > expected:
        raise DataError(
            f"{path}: {have - expected} bytes after the {expected} the header announces "
            "(not an IDX file, or a damaged one)"
        )
    # a copy: the buffer is read-only, and tensors made from it must be writable
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_images(path: str | Path, *, size: tuple[int, int] | None = None) -> np.ndarray:
    """IDX images → uint8 ``(N, rows, cols)``; with ``size``, rows × cols must equal it."""
    images = read_idx(path, IMAGES_MAGIC)
    if size is not None and tuple(images.shape[1:]) != tuple(size):
        raise DataError(
            f"{path}: images are {images.shape[1]} x {images.shape[2]}, expected "
            f"{size[0]} x {size[1]}"
        )
    return images


def read_labels(path: str | Path, *, num_classes: int | None = None) -> np.ndarray:
    """IDX labels → uint8 ``(N,)``; with ``num_classes`` every label must be in 0..num_classes-1."""
    labels = read_idx(path, LABELS_MAGIC)
    if num_classes is not None and labels.size and int(labels.max()) >= num_classes:
        bad = np.flatnonzero(labels >= num_classes)
        raise DataError(
            f"{path}: label {int(labels[bad[0]])} at index {int(bad[0])} is outside "
            f"0..{num_classes - 1} ({len(bad)} such labels)"
        )
    return labels


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array of 1 to 255 dimensions (header, then the data)."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs a uint8 array of 1..255 dims, got {array.dtype} {array.shape}")
    header = struct.pack(f">I{array.ndim}I", (UBYTE << 8) | array.ndim, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (atomically); gzip it when ``compress`` (default: when the
    name ends in ``.gz``). Returns the path."""
    path = Path(path)
    if compress is None:
        compress = path.name.endswith(".gz")
    payload = encode_idx(array)
    if compress:
        # mtime 0: the same array always gives the same bytes
        payload = gzip.compress(payload, mtime=0)
    atomic_write_bytes(path, payload)
    return path


__all__ = [
    "IMAGES_MAGIC", "LABELS_MAGIC", "encode_idx", "read_idx", "read_images", "read_labels",
    "write_idx",
]
