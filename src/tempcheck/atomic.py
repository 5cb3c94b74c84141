"""Atomic file writes, used by every stage that writes into a run folder.

Every file is written to a temporary name in the same folder, flushed, fsync'ed and renamed into
place (``os.replace`` is atomic on POSIX), so a killed process leaves either the old file or the
new one, never half of one. Appending to metrics.jsonl rewrites the whole file the same way.
This module sits at the top of the pipeline (it needs only numpy and torch), so training,
analysis and report code can write files without importing the sweep stage.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def check_writable_folder(folder: str | Path, flag: str = "--out") -> None:
    """A ``TempcheckError`` (one line, naming ``flag``) unless ``folder`` is, or can be made, a
    writable folder: not a file, not under a file, its nearest existing ancestor writable."""
    from .errors import RunFolderError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"{flag} {folder} is a file, not a folder; choose another {flag}")
    existing = folder
    while not existing.exists():
        if existing.is_symlink():  # a dangling link: mkdir would fail on it
            raise RunFolderError(f"{flag} {folder}: {existing} is a broken link")
        existing = existing.parent
    if not existing.is_dir():
        raise RunFolderError(f"{flag} {folder} lies under {existing}, which is a file; "
                             f"choose another {flag}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunFolderError(f"{flag} {folder}: {existing} is not writable; choose another {flag}")


def check_writable_file(path: str | Path, flag: str) -> None:
    """Like :func:`check_writable_folder` for a file to be written: not an existing folder, and
    its folder writable."""
    from .errors import RunFolderError

    path = Path(path)
    if path.is_dir():
        raise RunFolderError(f"{flag} {path} is a folder; give a file name")
    check_writable_folder(path.parent, flag)


def user_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file: 0o666 less the umask
    (``mkstemp`` makes its files 0o600, unreadable to collaborators on a shared filesystem)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, user_file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(o: Any):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _finite(o: Any):
    """Replace NaN/inf floats by None so files stay strict JSON."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def to_json(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(_finite(obj), indent=indent, default=_json_default, allow_nan=False)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, to_json(obj) + "\n")


def atomic_write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(to_json(r, indent=None) + "\n" for r in rows))


def atomic_write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _csv_cell(row.get(c, "")) for c in columns})
    atomic_write_text(path, buf.getvalue())


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not np.isfinite(v) else repr(v)
    if isinstance(v, bool):
        return str(v).lower()
    return v


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


def atomic_torch_save(path: Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint with ``weights_only=True``: an untrusted file cannot run code."""
    return torch.load(path, map_location="cpu", weights_only=True)
