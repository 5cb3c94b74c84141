"""Provenance: the software, machine and numerical settings a run was made with.

``versions()`` is what ``sweep.json["versions"]`` records and ``tempcheck --version`` prints
from: package versions (tempcheck, torch, numpy, scikit-learn, matplotlib, Python, CUDA), the
machine, torch's thread counts and determinism settings (they change results in the last bits),
and the git commit of the tempcheck source with a ``git_dirty`` flag (uncommitted changes to
tracked files: the commit alone does not describe the code that ran).
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

from . import __version__

_SOURCE = Path(__file__).resolve().parent


def _git(*args: str, cwd: Path = _SOURCE) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                             cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(path: Path = _SOURCE.parent) -> tuple[str | None, bool | None]:
    """(commit hash, dirty) of the git work tree holding ``path`` (default: tempcheck's own
    source); dirty = a tracked file under ``path`` differs from the commit. (None, None)
    outside git."""
    path = Path(path)
    head = (_git("rev-parse", "HEAD", cwd=path) or "").strip() or None
    if head is None:
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", cwd=path)
    return head, None if status is None else bool(status.strip())


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def numerics() -> dict:
    """torch's thread counts and the determinism switches that affect results."""
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def versions() -> dict:
    head, dirty = git_state()
    return {
        "tempcheck": __version__, "torch": torch.__version__, "numpy": np.__version__,
        "scikit_learn": _package_version("scikit-learn"),
        "matplotlib": _package_version("matplotlib"),
        "python": platform.python_version(), "cuda": torch.version.cuda,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "git": head, "git_dirty": dirty, **numerics(),
    }


def version_line() -> str:
    """``tempcheck --version``: one line with the version, the source commit and torch."""
    head, dirty = git_state()
    src = "" if head is None else f" (git {head[:10]}{', uncommitted changes' if dirty else ''})"
    return f"tempcheck {__version__}{src}, torch {torch.__version__}, Python " \
           f"{platform.python_version()}"
