"""Report section "Distillation": student test accuracy (and NLL, ECE) against the distillation
temperature T, with the teacher and the labels-only baseline as reference lines (Hinton et al.
2015; REFERENCE.md §7). Built from the run folder's top-level ``distill.csv`` only
(``RunData.tables["distill"]``, written by ``tempcheck distill``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from .base import Section, md_table
from .rundata import RunData
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
