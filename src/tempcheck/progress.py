"""One progress interface: a tqdm bar on a terminal, plain log lines otherwise (CI, files).

Library code reports through a :class:`Progress` it is given (``NullProgress`` by default), so
``fit()`` and the evaluations never print on their own.
"""

from __future__ import annotations

import sys
import time


class Progress:
    """Base: ``task(name, total)`` returns a handle with ``update(n=1, **postfix)`` and
    ``close()``; ``log(msg)`` writes one line."""

    def task(self, name: str, total: int | None = None) -> ProgressTask:
        return ProgressTask()

    def log(self, message: str) -> None:
        return None


class ProgressTask:
    def update(self, n: int = 1, **postfix: object) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> ProgressTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


NullProgress = Progress


class _BarTask(ProgressTask):
    def __init__(self, name: str, total: int | None, stream):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=name, file=stream, leave=False, dynamic_ncols=True)

    def update(self, n: int = 1, **postfix: object) -> None:
        if postfix:
            self.bar.set_postfix({k: _fmt(v) for k, v in postfix.items()}, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


class _LineTask(ProgressTask):
    """Plain lines, at most one every ``interval`` seconds plus the last one."""

    def __init__(self, name: str, total: int | None, stream, interval: float):
        self.name, self.total, self.stream, self.interval = name, total, stream, interval
        self.done, self.last = 0, 0.0
        self.postfix: dict = {}

    def update(self, n: int = 1, **postfix: object) -> None:
        self.done += n
        self.postfix.update(postfix)
        now = time.monotonic()
        if now - self.last >= self.interval or (self.total and self.done >= self.total):
            self.last = now
            of = f"/{self.total}" if self.total else ""
            extra = " ".join(f"{k}={_fmt(v)}" for k, v in self.postfix.items())
            print(f"[{self.name}] {self.done}{of} {extra}".rstrip(), file=self.stream, flush=True)


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class ConsoleProgress(Progress):
    """Bars when ``stream`` is a terminal, throttled plain lines otherwise."""

    def __init__(self, stream=None, interval: float = 10.0, bars: bool | None = None):
        self.stream = stream or sys.stderr
        self.bars = self.stream.isatty() if bars is None else bars
        self.interval = interval

    def task(self, name: str, total: int | None = None) -> ProgressTask:
        if self.bars:
            return _BarTask(name, total, self.stream)
        return _LineTask(name, total, self.stream, self.interval)

    def log(self, message: str) -> None:
        print(message, file=self.stream, flush=True)
