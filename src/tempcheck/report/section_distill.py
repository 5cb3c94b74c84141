"""Report section "Distillation": student test accuracy (and NLL, ECE) against the distillation
temperature T, with the teacher and the labels-only baseline as reference lines (Hinton et al.
2015; docs/theory.md §7). Built from the run folder's top-level ``distill.csv``
(``RunData.tables["distill"]``, written by ``tempcheck distill``).

A ``tempcheck distill`` output folder (``distill.json``, no ``sweep.json``) gets a report of its
own (``DISTILL_BUILDERS``): its setup (teacher, T grid, α, recipe), a summary of every trained
model (teacher, students, labels-only baseline) and the students' learning curves labelled by
their distillation T, instead of a sweep's sections, which would read T as a training τ.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .base import Section, md_table
from .plots import tau_palette
from .rundata import RunData, read_jsonl
from .stats import BAND_NOTE, SPREAD_NOTE, format_mean_sd, mean_sd

TITLE = "Distillation"
TABLE = "distill"


def _number(v) -> float | None:
    return v if isinstance(v, float) and np.isfinite(v) else None


def distill_figure(series: Mapping[str, Mapping[str, Mapping[float, list[float]]]],
                   references: Mapping[str, Mapping[str, float]]) -> Figure:
    """Three panels (test accuracy, NLL, ECE) against the distillation T (log axis).

    Args:
        series: {metric: {label: {T: [values over runs]}}} for metric in acc / nll / ece.
        references: {metric: {label: value}} horizontal lines (teacher, baseline).
    """
    panels = (("acc", "student test accuracy"), ("nll", "test NLL (T = 1)"),
              ("ece", "test ECE (T = 1)"))
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    styles = {"teacher": ("black", "--"), "baseline (labels only)": ("grey", ":")}
    for ax, (key, ylabel) in zip(axes, panels):
        for label, by_t in series.get(key, {}).items():
            ts = np.array(sorted(by_t))
            if ts.size == 0:
                continue
            stats = np.array([(s.mean, s.band_sd) for s in (mean_sd(by_t[t]) for t in ts)])
            (line,) = ax.plot(ts, stats[:, 0], marker="o", markersize=4, label=label)
            ax.fill_between(ts, stats[:, 0] - stats[:, 1], stats[:, 0] + stats[:, 1],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        for label, value in references.get(key, {}).items():
            color, ls = styles.get(label, ("grey", "-."))
            ax.axhline(value, color=color, ls=ls, lw=1, label=label)
        ax.set_xscale("log")
        ax.set(xlabel="distillation temperature T (log scale)", ylabel=ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    return fig


def build(run: RunData) -> Section:
    """The distillation section (``Section.not_run`` when the folder has no distill.csv)."""
    rows = run.tables.get(TABLE) or []
    if not rows:
        return Section.not_run(TITLE, "no distillation results in this run folder (distill.csv, "
                                      "written by `tempcheck distill`)")
    students = [r for r in rows if r.get("role") == "student"
                and _number(r.get("distill_temperature")) is not None]
    if not students:
        return Section(TITLE, markdown="distill.csv holds no student rows.", anchor="distill")
    ok = [r for r in students if r.get("status") in ("ok", "stalled")]
    teacher_taus = sorted({float(r["teacher_temperature"]) for r in students
                           if _number(r.get("teacher_temperature")) is not None})
    series: dict[str, dict[str, dict[float, list[float]]]] = {"acc": {}, "nll": {}, "ece": {}}
    for tau_t in teacher_taus or [None]:
        label = f"students of teacher τ = {tau_t:g}" if tau_t is not None else "students"
        for key in series:
            by_t: dict[float, list[float]] = {}
            for r in ok:
                if tau_t is not None and r.get("teacher_temperature") != tau_t:
                    continue
                v = _number(r.get(f"test_{key}"))
                if v is not None:
                    by_t.setdefault(float(r["distill_temperature"]), []).append(v)
            series[key][label] = dict(sorted(by_t.items()))
    references: dict[str, dict[str, float]] = {"acc": {}, "nll": {}, "ece": {}}
    for role, label in (("teacher", "teacher"), ("baseline", "baseline (labels only)")):
        for key in references:
            values = [_number(r.get(f"test_{key}")) for r in rows if r.get("role") == role]
            values = [v for v in values if v is not None]
            if values:
                references[key][label] = float(np.mean(values))
    header = ["T", "runs", "student acc", "NLL", "ECE", "agreement with teacher"]
    table = []
    for t in sorted({float(r["distill_temperature"]) for r in ok}):
        at = [r for r in ok if float(r["distill_temperature"]) == t]

        def col(name: str, at=at) -> list[float]:
            return [v for v in (_number(r.get(name)) for r in at) if v is not None]

        table.append([f"{t:g}", len(at)] + [format_mean_sd(col(c), runs=len(at)) for c in (
            "test_acc", "test_nll", "test_ece", "agreement")])
    alphas = sorted({r["alpha"] for r in students if _number(r.get("alpha")) is not None})
    text = ("Students trained with α·CE(z_s, y) + (1 − α)·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) "
            "(Hinton et al. 2015), one student per distillation temperature T, all from the same "
            "initial weights; accuracy, NLL and ECE are measured at temperature 1.")
    if alphas:
        text += f" α = {', '.join(f'{a:g}' for a in alphas)}."
    if teacher_taus:
        text += f" Teacher trained at τ = {', '.join(f'{t:g}' for t in teacher_taus)}."
    refs = [f"{label} accuracy {value:.4g}" for label, value in references["acc"].items()]
    if refs:
        text += " Reference: " + "; ".join(refs) + "."
    failed = len(students) - len(ok)
    if failed:
        text += f" {failed} student(s) diverged or failed and are left out."
    best = max(table, key=lambda row: float(row[2].split()[0])) if table else None
    if best is not None:
        text += f" Best student accuracy at T = {best[0]}."
    figure = ("Student test accuracy, NLL and ECE against the distillation temperature T (mean "
              f"over runs; {BAND_NOTE}); dashed: the teacher, dotted: a student trained on the "
              "labels alone (α = 1).", distill_figure(series, references))
    return Section(TITLE, markdown="\n\n".join([text, md_table(header, table), SPREAD_NOTE]),
                   figures=[figure], anchor="distill")


# -- the report of a `tempcheck distill` folder ------------------------------------------------
def is_distill_folder(root: str | Path) -> bool:
    root = Path(root)
    return (root / "distill.json").is_file() and not (root / "sweep.json").is_file()


def _settings(run: RunData) -> dict:
    path = run.root / "distill.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def distill_title(run: RunData) -> str:
    cfg = _settings(run).get("config", {})
    return (f"tempcheck distillation report — {cfg.get('data', {}).get('name', 'unknown data')}"
            f" / {cfg.get('model', {}).get('name', 'unknown model')}")


def build_distill_setup(run: RunData) -> Section:
    info = _settings(run)
    if not info:
        return Section.not_run("Setup", "distill.json is missing")
    cfg, teacher = info.get("config", {}), info.get("teacher", {})
    d, m, t = (cfg.get(k, {}) for k in ("data", "model", "train"))
    logits = ("its predictive distribution softmax(z/τ)" if info.get("teacher_logits", "tempered")
              == "tempered" else "its raw logits z (τ ignored)")
    lines = [
        f"- **Teacher**: member {teacher.get('member')} of group `{teacher.get('group')}` in "
        f"`{teacher.get('run_dir')}`, trained at τ = {teacher.get('temperature'):g}, seed "
        f"{teacher.get('seed')}; the students distil {logits}",
        f"- **Data / model**: `{d.get('name')}` (split seed {d.get('split_seed')}), `{m.get('name')}`"
        f" {m.get('options') or ''} (the teacher's family and options)",
        f"- **Distillation temperatures T**: {', '.join(f'{x:g}' for x in info.get('temperatures', []))}"
        f"; α = {info.get('alpha')} (weight of the label loss)"
        + ("; plus a labels-only baseline (α = 1)" if info.get("baseline") else ""),
        f"- **Students**: one bank, every member from seed {info.get('student_seed')}, "
        f"{info.get('epochs')} epochs, lr {info.get('lr')}, {t.get('optimizer')} with the "
        f"teacher's recipe ({t.get('schedule')} schedule, batch {t.get('batch_size')})",
        f"- **Device / wall time**: {info.get('device')}, {info.get('wall_seconds')} s",
    ]
    return Section("Setup", "\n".join(lines))


def _pct(v) -> str:
    """A fraction in [0, 1], as every section of the report shows accuracies and ECE."""
    return f"{v:.4f}" if isinstance(v, float) and math.isfinite(v) else "–"


def build_distill_summary(run: RunData) -> Section:
    rows = run.tables.get(TABLE) or []
    if not rows:
        return Section.not_run("Summary", "distill.csv is missing or empty")
    order = {"teacher": 0, "baseline": 1, "student": 2}
    rows = sorted(rows, key=lambda r: (order.get(str(r.get("role")), 3),
                                       _number(r.get("distill_temperature")) or 0.0))
    header = ["model", "distillation T", "α", "test acc", "NLL", "ECE", "agreement with teacher",
              "status"]
    body = []
    for r in rows:
        role = str(r.get("role"))
        name = {"teacher": f"teacher (τ = {float(r['teacher_temperature']):g})"
                if _number(r.get("teacher_temperature")) is not None else "teacher",
                "baseline": "baseline (labels only)"}.get(role, "student")
        t, a = _number(r.get("distill_temperature")), _number(r.get("alpha"))
        nll = _number(r.get("test_nll"))
        body.append([name, "–" if t is None else f"{t:g}", "–" if a is None else f"{a:g}",
                     _pct(_number(r.get("test_acc"))), "–" if nll is None else f"{nll:.4f}",
                     _pct(_number(r.get("test_ece"))),
                     "–" if role == "teacher" else _pct(_number(r.get("agreement"))),
                     r.get("status", "")])
    text = ("Every model on the test split at temperature 1 (how a distilled student predicts); "
            "one run each (n = 1), so differences between rows carry no seed spread.")
    return Section("Summary", text + "\n\n" + md_table(header, body))


def build_distill_curves(run: RunData) -> Section:
    path = run.root / "metrics.jsonl"
    if not path.is_file():
        return Section.not_run("Learning curves", "metrics.jsonl is missing")
    records = read_jsonl(path)
    info = _settings(run)
    labels = [f"student T = {t:g}" for t in info.get("temperatures", [])]
    if info.get("baseline"):
        labels.append("baseline (labels only)")
    panels = (("test_acc", "test error", lambda v: 1 - v, False),
              ("train_loss", "training loss (distillation objective)", lambda v: v, True))
    fig = Figure(figsize=(10.0, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    n_students = len(labels) - int(bool(info.get("baseline")))
    colors = tau_palette(n_students)
    for ax, (key, ylabel, transform, log_y) in zip(axes, panels):
        for k, label in enumerate(labels):
            curve = [transform(rec[key][k]) if rec.get(key) and k < len(rec[key])
                     and rec[key][k] is not None else math.nan for rec in records]
            style = {"color": "black", "ls": ":"} if label.startswith("baseline") else {
                "color": colors[min(k, n_students - 1)]}
            ax.plot(np.arange(1, len(curve) + 1), curve, label=label, **style)
        if log_y:
            ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel=ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return Section("Learning curves", "", [(
        "Test error and training loss per epoch of each student (colour: distillation T) and "
        "of the labels-only baseline (dotted); one run each.", fig)])


DISTILL_BUILDERS = (build_distill_setup, build_distill_summary, build_distill_curves, build)
