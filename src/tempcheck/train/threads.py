"""torch's intra-op thread count, chosen on purpose and restored afterwards.

tempcheck never changes the thread count on its own: a sweep runs with torch's default (one
thread per core) unless ``train.threads`` / ``--threads`` says otherwise, and the Ray executor
gives each task ``sweep.cpus_per_bank`` threads. On a machine with other load, fewer threads
are often faster: OpenMP workers spin while waiting for a core, and on a loaded 2-core machine
an evaluation ran 10× slower with 2 threads than with 1 (``bench/bank_vs_sequential.py`` reports
both). Use 1 thread on a shared machine, and one thread per process when running several.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the body with ``n`` intra-op threads (None: leave as is); the old count is restored."""
    old = torch.get_num_threads()
    if n is not None:
        if int(n) < 1:
            raise ValueError(f"threads must be >= 1, got {n}")
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
