"""Read a run folder back (the report is built from these files alone; it never re-trains)."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def _number(text: str):
    """CSV cell → float when numeric, else the string ("" stays "")."""
    if text is None:
        return ""
    try:
        return float(text)
    except ValueError:
        return text


def _cell(value):
    """A rows.json value as read_csv would give it (numbers as floats, None as "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    return float(value) if isinstance(value, (int, float)) else value


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _read(path: Path, reader):
    """``reader(path)``, with a damaged or unreadable file as a one-line RunFolderError."""
    from ..errors import RunFolderError

    try:
        return reader(path)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        # json.JSONDecodeError is a ValueError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunFolderError(f"{path} is damaged or unreadable ({first}); nothing was "
                             "written") from None


@dataclass
class RunData:
    """Everything in a run folder, parsed.

    - ``sweep``: sweep.json (config, grid, groups, versions).
    - ``results``: rows of results.csv (numbers as floats, empty cells as "").
    - ``metrics[group]``: metrics.jsonl records (one per epoch, per-member lists).
    - ``evals[group]``: eval.json (evaluation name → info).
    - ``tables[name]``: other top-level CSVs (e.g. corruptions.csv), by stem.
    - ``arrays(group)``: the group's arrays.npz as a dict ("<evaluation>/<key>" → array).
    """

    root: Path
    sweep: dict = field(default_factory=dict)
    results: list[dict] = field(default_factory=list)
    metrics: dict[str, list[dict]] = field(default_factory=dict)
    evals: dict[str, dict] = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)
    _arrays: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | Path) -> RunData:
        """Parse the folder; a corrupt file is a RunFolderError naming it (one line)."""
        root = Path(root)
        run = cls(root=root)
        if (root / "sweep.json").is_file():
            run.sweep = _read(root / "sweep.json", _json)
        if (root / "results.csv").is_file():
            run.results = _read(root / "results.csv", read_csv)
        for path in sorted(root.glob("*.csv")):
            if path.name != "results.csv":
                run.tables[path.stem] = _read(path, read_csv)
        groups = root / "groups"
        partial_rows: list[dict] = []
        if groups.is_dir():
            for gdir in sorted(p for p in groups.iterdir() if p.is_dir()):
                if (gdir / "metrics.jsonl").is_file():
                    run.metrics[gdir.name] = _read(gdir / "metrics.jsonl", read_jsonl)
                if (gdir / "eval.json").is_file():
                    run.evals[gdir.name] = _read(gdir / "eval.json", _json)
                if (gdir / "done.json").is_file() and (gdir / "rows.json").is_file():
                    partial_rows += _read(gdir / "rows.json", _json)
        if not (root / "results.csv").is_file() and partial_rows:
            # a sweep still running: the finished groups' rows, as results.csv would hold them
            run.results = [{k: _cell(v) for k, v in r.items()} for r in partial_rows]
            run.evals = {g: info for g, info in run.evals.items()
                         if (groups / g / "done.json").is_file()}
        return run

    def arrays(self, group: str) -> dict[str, np.ndarray]:
        if group not in self._arrays:
            path = self.root / "groups" / group / "arrays.npz"
            if path.is_file():
                with np.load(path, allow_pickle=False) as npz:
                    self._arrays[group] = {k: npz[k] for k in npz.files}
            else:
                self._arrays[group] = {}
        return self._arrays[group]

    # -- helpers for sections -----------------------------------------------------------------
    def ok_rows(self) -> list[dict]:
        """Rows of members that trained (status ok or stalled; diverged/failed excluded)."""
        return [r for r in self.results if r.get("status") in ("ok", "stalled")]

    def temperatures(self) -> list[float]:
        return sorted({float(r["temperature"]) for r in self.results})

    def evaluation_ran(self, name: str) -> bool:
        return any(name in info for info in self.evals.values())

    def column_by_temperature(self, column: str, rows: list[dict] | None = None):
        """{τ: [values over seeds/lrs]} for a numeric column, skipping empty / NaN cells."""
        out: dict[float, list[float]] = {}
        for r in rows if rows is not None else self.ok_rows():
            v = r.get(column, "")
            if isinstance(v, float) and not math.isnan(v):
                out.setdefault(float(r["temperature"]), []).append(v)
        return dict(sorted(out.items()))
