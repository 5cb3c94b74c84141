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
    """Plain lines, at most one every ``interval`` seconds plus the last one; with a known
    total each line carries the elapsed time and an ETA (remaining steps at the mean pace)."""

    def __init__(self, name: str, total: int | None, stream, interval: float,
                 clock=time.monotonic):
        self.name, self.total, self.stream, self.interval = name, total, stream, interval
        self.clock = clock
        self.done, self.last, self.start = 0, 0.0, clock()
        self.postfix: dict = {}

    def update(self, n: int = 1, **postfix: object) -> None:
        self.done += n
        self.postfix.update(postfix)
        now = self.clock()
        if now - self.last >= self.interval or (self.total and self.done >= self.total):
            self.last = now
            of = f"/{self.total}" if self.total else ""
            extra = " ".join(f"{k}={_fmt(v)}" for k, v in self.postfix.items())
            timing = ""
            if self.total and self.done:
                elapsed = now - self.start
                left = elapsed / self.done * max(0, self.total - self.done)
                timing = f" [{format_seconds(elapsed)} elapsed, ETA {format_seconds(left)}]"
            print(f"[{self.name}] {self.done}{of} {extra}".rstrip() + timing, file=self.stream,
                  flush=True)


def format_seconds(seconds: float) -> str:
    """``75`` → ``1m15s``; ``3700`` → ``1h01m``; under a minute ``42s``."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def member_extremes(values, temperatures, active=None, *, higher_is_better: bool = True,
                    name: str = "acc") -> dict[str, str]:
    """Best and worst member of a bank for a progress line, instead of a mean that hides them:
    ``{"best_acc": "0.981 (τ=1)", "worst_acc": "0.102 (τ=100)"}``. ``active``: members still
    training (diverged ones are left out and counted)."""
    vals = [float(v) for v in values]
    taus = [float(t) for t in temperatures]
    keep = [k for k in range(len(vals)) if (active is None or bool(active[k]))
            and vals[k] == vals[k]]
    if not keep:
        return {name: "no member training"}
    order = sorted(keep, key=lambda k: vals[k], reverse=higher_is_better)
    out = {f"best_{name}": f"{vals[order[0]]:.4g} (τ={taus[order[0]]:g})"}
    if len(order) > 1:
        out[f"worst_{name}"] = f"{vals[order[-1]]:.4g} (τ={taus[order[-1]]:g})"
    if len(keep) < len(vals):
        out["stopped"] = str(len(vals) - len(keep))
    return out


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


def member_lines(members, train_acc, test_acc, status) -> list[str]:
    """One line per member after a bank trained: ``  τ=0.1 seed 0: train acc 0.991, test acc
    0.978 (ok)``; ``members`` are (τ, seed) pairs, the others per-member lists (None = none)."""
    def num(values, k):
        v = values[k] if values is not None and k < len(values) else None
        return "–" if v is None or v != v else f"{float(v):.4g}"

    return [f"  τ={float(t):g} seed {s}: train acc {num(train_acc, k)}, test acc "
            f"{num(test_acc, k)} ({status[k] if k < len(status) else '?'})"
            for k, (t, s) in enumerate(members)]
