"""``tempcheck compare RUN_A RUN_B ... --out DIR``: several sweeps side by side, aligned by τ.

The first run is the reference. For every metric the runs share (test accuracy, NLL, ECE, ECE
after temperature scaling, corruption accuracy, worst-case robust accuracy), each τ gets each
run's mean ± sample s.d. over its members at that τ (seeds, and learning rates when a grid was
swept), the difference Δ = mean(run) − mean(reference), and whether Δ exceeds the seed spread:
``|Δ| > s.d.(run) + s.d.(reference)``, i.e. the two mean ± s.d. intervals do not overlap. With
fewer than two members on either side there is no spread to compare with, and the table says
"n = 1" instead of guessing.

Files in DIR: ``compare.csv`` (long format: one row per τ × metric × run), ``report.html`` /
``report.md`` with figures (PNG + SVG) and tables (CSV + LaTeX), like a sweep's report.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..errors import ConfigError, RunFolderError
from .base import Section, md_table
from .plots import TAU_LABEL, panel_width
from .rundata import RunData
from .stats import MeanSD, mean_sd

Cell = MeanSD  # one run's mean, sample s.d. (NaN when n < 2) and n at one τ

# (results.csv column, label); every value is shown as it is stored: accuracies and ECE as
# fractions in [0, 1] (like every report section), NLL in nats
METRICS = (
    ("test_acc", "test accuracy"), ("test_nll", "test NLL"), ("test_ece", "test ECE"),
    ("test_ece_ts", "ECE after TS"), ("corr_acc_mean", "corruption accuracy"),
    ("robust_acc_worst", "worst-case robust accuracy"),
)
# config keys that say how a sweep was made; the setup lists those that differ between runs
_IGNORED_KEYS = ("sweep.", "eval.", "data.data_dir", "train.device")


def cell_text(c: Cell | None) -> str:
    """"mean ± s.d. (n = N)", or "mean (n = 1)"; "–" when there is no value."""
    if c is None or c.n == 0:
        return "–"
    return c.text(fmt=".4f", sd_fmt=".4f")


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def run_labels(roots: list[Path], labels: list[str] | None) -> list[str]:
    if labels is not None:
        if len(labels) != len(roots):
            raise ConfigError(f"--labels gives {len(labels)} names for {len(roots)} runs")
        return labels
    names = [r.resolve().name for r in roots]
    return [n if names.count(n) == 1 else f"{n} ({i + 1})" for i, n in enumerate(names)]


def load_runs(paths: list[str | Path]) -> list[RunData]:
    if len(paths) < 2:
        raise ConfigError("compare needs at least two run folders")
    runs = []
    for p in paths:
        root = Path(p)
        if not (root / "results.csv").is_file():
            raise RunFolderError(f"{root} has no results.csv; is it a finished tempcheck sweep?")
        runs.append(RunData.load(root))
    return runs


def cells(run: RunData, column: str) -> dict[float, Cell]:
    """{τ: mean ± s.d. over the members that trained} of one results.csv column."""
    return {tau: mean_sd(values) for tau, values in run.column_by_temperature(column).items()}


def difference(ref: Cell | None, other: Cell | None) -> tuple[float, str]:
    """(Δ = other − ref, verdict): "yes"/"no" when both sides have a spread, else "n = 1"."""
    if ref is None or other is None:
        return math.nan, "–"
    delta = other.mean - ref.mean
    if ref.n < 2 or other.n < 2:
        return delta, "n = 1"
    return delta, "yes" if abs(delta) > ref.sd + other.sd else "no"


def comparison_rows(runs: list[RunData], labels: list[str]) -> list[dict]:
    """Long-format rows: τ, metric, run, mean, sd, n, delta (vs the first run), exceeds_spread."""
    rows = []
    for column, _ in METRICS:
        per_run = [cells(r, column) for r in runs]
        if not any(per_run):
            continue
        for tau in sorted(set().union(*per_run)):
            ref = per_run[0].get(tau)
            for label, by_tau in zip(labels, per_run):
                c = by_tau.get(tau)
                delta, verdict = difference(ref, c) if label != labels[0] else (math.nan, "")
                rows.append({"temperature": tau, "metric": column, "run": label,
                             "mean": c.mean if c else math.nan, "sd": c.sd if c else math.nan,
                             "n": c.n if c else 0, "delta_vs_reference": delta,
                             "exceeds_seed_spread": verdict})
    return rows


def _fmt(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "–"
    sign = "+" if signed and value > 0 else ""
    return f"{sign}{value:.4f}"


def metric_table(rows: list[dict], column: str, labels: list[str]) -> str:
    """One Markdown table: a row per τ, per run mean ± s.d. (n), and Δ with its verdict."""
    header = ["τ", *[f"{lab}" for lab in labels],
              *[f"Δ {lab} − {labels[0]}" for lab in labels[1:]]]
    body = []
    mine = [r for r in rows if r["metric"] == column]
    for tau in sorted({r["temperature"] for r in mine}):
        at = {r["run"]: r for r in mine if r["temperature"] == tau}
        line = [f"{tau:g}"]
        for lab in labels:
            r = at.get(lab)
            line.append(cell_text(Cell(r["mean"], r["sd"], r["n"]) if r else None))
        for lab in labels[1:]:
            r = at.get(lab)
            if r is None or not math.isfinite(r["delta_vs_reference"]):
                line.append("–")
                continue
            mark = {"yes": " **(exceeds spread)**", "no": " (within spread)",
                    "n = 1": " (n = 1)"}.get(r["exceeds_seed_spread"], "")
            line.append(_fmt(r["delta_vs_reference"], signed=True) + mark)
        body.append(line)
    return md_table(header, body)


def comparison_figure(runs: list[RunData], labels: list[str], metrics) -> Figure:
    """One panel per metric: each run's mean against τ (log axis) with a ± 1 s.d. band."""
    n_cols = min(3, max(1, len(metrics)))
    n_rows = math.ceil(max(1, len(metrics)) / n_cols)
    fig = Figure(figsize=(panel_width(n_cols, 4.2), 3.2 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes[len(metrics):]:
        ax.set_axis_off()
    for ax, (column, name) in zip(axes, metrics):
        for label, run in zip(labels, runs):
            by_tau = cells(run, column)
            if not by_tau:
                continue
            taus = np.array(sorted(by_tau))
            mean = np.array([by_tau[t].mean for t in taus])
            sd = np.array([by_tau[t].band_sd for t in taus])
            (line,) = ax.plot(taus, mean, marker="o", markersize=4, label=label)
            ax.fill_between(taus, mean - sd, mean + sd, color=line.get_color(), alpha=0.2,
                            linewidth=0)
        ax.set_xscale("log")
        ax.set_xlabel(TAU_LABEL)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return fig


def setup_section(runs: list[RunData], labels: list[str]) -> Section:
    lines = []
    for label, run in zip(labels, runs):
        cfg = run.sweep.get("config", {})
        grid = run.sweep.get("grid", {})
        lines.append(
            f"- **{label}**: `{run.root}` — `{cfg.get('data', {}).get('name', '?')}` / "
            f"`{cfg.get('model', {}).get('name', '?')}`, τ = "
            f"{', '.join(f'{t:g}' for t in grid.get('temperatures', run.temperatures()))}, "
            f"seeds {grid.get('seeds', '?')}, {len(run.ok_rows())} of {len(run.results)} "
            "members trained")
    flat = [_flatten(r.sweep.get("config", {})) for r in runs]
    keys = sorted({k for f in flat for k in f if not k.startswith(_IGNORED_KEYS)})
    differ = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
    text = "\n".join(lines)
    if differ:
        text += "\n\nSettings that differ between the runs:\n\n" + md_table(
            ["setting", *labels], [[f"`{k}`", *[str(f.get(k, "–")) for f in flat]]
                                   for k in differ])
    else:
        text += "\n\nThe runs' training settings are identical (only the grid or the " \
                "evaluations may differ)."
    data = {(f.get("data.name"), f.get("model.name")) for f in flat}
    if len(data) > 1:
        text += "\n\n**Warning**: the runs use different data or models; differences mix both."
    return Section("Runs compared", text)


def compare_sections(runs: list[RunData], labels: list[str]) -> tuple[list[Section], list[dict]]:
    rows = comparison_rows(runs, labels)
    present = [m for m in METRICS if any(r["metric"] == m[0] for r in rows)]
    sections = [setup_section(runs, labels)]
    intro = (f"Each cell is the mean ± sample s.d. over the members at that τ (n shown; \"n = 1\" "
             f"when a run has one member there). Δ is the difference to **{labels[0]}** (the "
             "reference, first run); it *exceeds the seed spread* when |Δ| is larger than the "
             "two runs' s.d. added, i.e. their mean ± s.d. intervals do not overlap. Accuracies "
             "and ECE are fractions in [0, 1], NLL in nats.")
    parts = [intro]
    for column, name in present:
        parts += [f"**{name}**", metric_table(rows, column, labels)]
    figures = []
    if present:
        figures.append(("Each run's mean against τ (log axis), band ± 1 sample s.d. over its "
                        "members at that τ (none where n = 1).",
                        comparison_figure(runs, labels, present)))
    sections.append(Section("Side by side, aligned by τ", "\n\n".join(parts), figures))
    return sections, rows


def run_compare(paths: list[str | Path], out: str | Path,
                labels: list[str] | None = None) -> Path:
    """Compare the run folders ``paths`` into the new folder ``out``; returns ``out``."""
    from ..atomic import atomic_write_csv
    from .build import write_report

    roots = [Path(p) for p in paths]
    runs = load_runs(roots)
    labels = run_labels(roots, labels)
    out = Path(out)
    if any(out.resolve() == r.resolve() for r in roots):
        raise ConfigError("--out must be a new folder, not one of the runs compared")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunFolderError(f"{out} is not empty; choose another --out (nothing was written)")
    sections, rows = compare_sections(runs, labels)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out / "compare.csv", rows, list(rows[0]) if rows else ["temperature"])
    write_report(out, "tempcheck comparison — " + " vs ".join(labels), sections)
    return out
