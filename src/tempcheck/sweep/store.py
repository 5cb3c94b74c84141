"""Run folders on disk: the sweep lock and identity checks for ``--resume``; the atomic writers
live in ``tempcheck.atomic`` and are re-exported here for the sweep's modules."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..atomic import (  # noqa: F401  re-exported
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_npz,
    atomic_write_text,
    load_checkpoint,
    to_json,
)
from ..errors import RunFolderError


def fingerprint(config_dict: dict) -> str:
    """Hash of what defines a sweep's results (data, model, training, grid), ignoring where and
    how it runs (device, backend, evaluations), so ``--resume`` accepts the same sweep only."""
    d = json.loads(json.dumps(config_dict, default=str))
    for key in ("device", "compile", "checkpoint_every", "eval_every"):
        d.get("train", {}).pop(key, None)
    for key in ("backend", "ray_address", "gpus_per_bank", "cpus_per_bank", "retries",
                "trackers"):
        d.get("sweep", {}).pop(key, None)
    d.pop("eval", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def check_out_folder(root: Path, flag: str = "--out") -> None:
    """Refuse an output folder that cannot be one, before anything is written: a path that is a
    file, lies under a file, or whose nearest existing folder is not writable."""
    from ..atomic import check_writable_folder

    check_writable_folder(root, flag)


class SweepLock:
    """An exclusive, non-blocking ``flock`` on ``OUT/.lock``: a second process writing the same
    run folder gets a clear error instead of corrupting it. Released when the process dies."""

    def __init__(self, root: Path):
        self.path = Path(root) / ".lock"
        self.fh = None

    def acquire(self) -> SweepLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            owner = self.fh.read().strip() or "another process"
            self.fh.close()
            self.fh = None
            raise RunFolderError(
                f"run folder {self.path.parent} is in use by {owner}; wait for it or use another --out"
            ) from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()}")
        self.fh.flush()
        return self

    def release(self) -> None:
        if self.fh is not None:
            import fcntl

            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None

    def __enter__(self) -> SweepLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
