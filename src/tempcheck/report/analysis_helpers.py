"""Helpers shared by the analysis sections: one representative member per τ, tables of
per-τ means, and per-epoch curves when the training loop logged them."""

from __future__ import annotations

import math

from .base import md_table
from .rundata import RunData
from .stats import SPREAD_NOTE, format_mean_sd


def representative_members(run: RunData, rows: list[dict], key: str) -> dict[float, tuple]:
    """{τ: (row, k, arrays)} for one member per τ that has ``key`` in its group's arrays.npz:
    the lowest seed (then group, member), so a figure shows one seed across τ."""
    out: dict[float, tuple] = {}
    ordered = sorted(rows, key=lambda r: (_seed(r), str(r["group"]), int(r["member"])))
    for r in ordered:
        tau = float(r["temperature"])
        if tau in out:
            continue
        arrays = run.arrays(str(r["group"]))
        if key in arrays:
            out[tau] = (r, int(r["member"]), arrays)
    return dict(sorted(out.items()))


def _seed(row: dict) -> float:
    s = row.get("seed")
    return float(s) if isinstance(s, float) else math.inf


def table_by_temperature(run: RunData, rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Markdown table, one row per τ: number of runs and mean ± sample s.d. of each
    (header, column) (``report.stats``), followed by the note that says so."""
    data = {col: run.column_by_temperature(col, rows) for _, col in columns}
    taus = sorted({t for d in data.values() for t in d})
    body = []
    for tau in taus:
        n = max((len(d.get(tau, [])) for d in data.values()), default=0)
        body.append([f"{tau:g}", n] + [format_mean_sd(data[col].get(tau), runs=n)
                                       for _, col in columns])
    return md_table(["τ", "runs"] + [h for h, _ in columns], body) + "\n\n" + SPREAD_NOTE


def has_epoch_key(run: RunData, key: str) -> bool:
    """Whether any group's metrics.jsonl logged ``key`` per epoch."""
    return any(key in rec for records in run.metrics.values() for rec in records)
