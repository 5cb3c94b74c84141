"""Decode image files once into a uint8 array ``(N, 3, S, S)`` and cache it as ``.npy``.

Decoding 100,000 JPEGs takes minutes; the cached array loads in a second. The cache file name
carries a hash of the decoded files' relative paths, sizes and modification times plus the
target size, so adding, removing or editing an image (or changing ``image_size``) makes a new
entry instead of serving stale pixels. Cache files are written to a temporary name and renamed
into place (a killed process never leaves half a cache), and read with ``allow_pickle=False``.
A cache that cannot be read is ignored and rebuilt; one that cannot be written is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import DataError

CACHE_FOLDER = ".tempcheck_cache"
_FORMAT = 1  # bump when the decoding changes, so old caches are not reused


def decode_image(path: Path, size: int) -> np.ndarray:
    """Read one image as RGB uint8 ``(3, size, size)``.

    An image of another size is resized so its shorter side is ``size`` (bilinear) and
    centre-cropped to a square. An unreadable file is a :class:`DataError` naming it.
    """
    from PIL import Image

    resample = getattr(Image, "Resampling", Image).BILINEAR
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read image {path}: {detail}") from None
    w, h = img.size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((new_w, new_h), resample)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)  # (H, W, 3) -> (3, H, W)


def decode_all(paths: Sequence[Path], size: int, workers: int = 0) -> np.ndarray:
    """Decode ``paths`` in order into ``(N, 3, size, size)`` uint8, with a thread pool
    (Pillow releases the GIL while decoding). ``workers=0`` picks ``min(8, cpu_count)``."""
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    if not paths:
        return out
    workers = workers or min(8, os.cpu_count() or 1)

    def work(i: int) -> None:
        out[i] = decode_image(paths[i], size)

    if workers == 1:
        for i in range(len(paths)):
            work(i)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(work, range(len(paths))):
                pass
    return out


def cache_key(paths: Sequence[Path], root: Path, size: int) -> str:
    """A hash of the file list (relative paths, sizes, mtimes) and the target size."""
    digest = hashlib.sha256(json.dumps([_FORMAT, size]).encode())
    for path in paths:
        stat = path.stat()
        rel = os.path.relpath(path, root)
        digest.update(json.dumps([rel, stat.st_size, stat.st_mtime_ns]).encode())
    return digest.hexdigest()[:20]


def resolve_cache_dir(root: Path, cache_dir: str | Path | None) -> Path | None:
    """``cache_dir`` when given (created; an unwritable one is a DataError), else
    ``root/.tempcheck_cache`` when it can be created and written, else None (no caching)."""
    if cache_dir is not None:
        folder = Path(cache_dir).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create cache folder {folder}: {exc.strerror or exc}") from None
        if not os.access(folder, os.W_OK):
            raise DataError(f"cache folder {folder} is not writable")
        return folder
    folder = root / CACHE_FOLDER
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def _read_cache(path: Path, n: int, size: int) -> np.ndarray | None:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if arr.dtype != np.uint8 or arr.shape != (n, 3, size, size):
        return None
    return arr


def _write_cache(path: Path, arr: np.ndarray) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, arr, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_images(
    paths: Sequence[Path], size: int, *, root: Path, cache_dir: Path | None, tag: str,
    workers: int = 0,
) -> np.ndarray:
    """Decoded images ``(N, 3, size, size)`` uint8, from the cache when a valid entry exists.

    Args:
        root: the dataset folder; cache keys use paths relative to it.
        cache_dir: where cache files live (see :func:`resolve_cache_dir`); None disables it.
        tag: a readable prefix of the cache file name (dataset and split).
    """
    if cache_dir is None:
        return decode_all(paths, size, workers)
    path = cache_dir / f"{tag}-{size}px-{cache_key(paths, root, size)}.npy"
    if path.is_file():
        cached = _read_cache(path, len(paths), size)
        if cached is not None:
            return cached
    arr = decode_all(paths, size, workers)
    _write_cache(path, arr)
    return arr
