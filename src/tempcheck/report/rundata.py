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
        root = Path(root)
        run = cls(root=root)
        if (root / "sweep.json").is_file():
            run.sweep = json.loads((root / "sweep.json").read_text(encoding="utf-8"))
        if (root / "results.csv").is_file():
            run.results = read_csv(root / "results.csv")
        for path in sorted(root.glob("*.csv")):
            if path.name != "results.csv":
                run.tables[path.stem] = read_csv(path)
        groups = root / "groups"
        partial_rows: list[dict] = []
        if groups.is_dir():
            for gdir in sorted(p for p in groups.iterdir() if p.is_dir()):
                if (gdir / "metrics.jsonl").is_file():
                    run.metrics[gdir.name] = read_jsonl(gdir / "metrics.jsonl")
                if (gdir / "eval.json").is_file():
                    run.evals[gdir.name] = json.loads((gdir / "eval.json").read_text("utf-8"))
                if (gdir / "done.json").is_file() and (gdir / "rows.json").is_file():
                    partial_rows += json.loads((gdir / "rows.json").read_text("utf-8"))
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
