"""Report section "Calibration": ECE / NLL against the training temperature τ before and after
post-hoc scaling, the fitted temperature T against τ, reliability diagrams and a table
(Guo et al. 2017; docs/theory.md §4). Built from results.csv, eval.json and arrays.npz only.

The plot functions here are pure (data → matplotlib ``Figure``, no pyplot state);
:func:`reliability_figure` is also used by ``tempcheck calibrate --png``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from .base import Section, md_table
from .plots import panel_width
from .rundata import RunData
from .stats import BAND_NOTE, SPREAD_NOTE, format_mean_sd, mean_sd

TITLE = "Calibration"
EVALUATION = "calibration"

# (label, column) of the curves drawn against τ, in drawing order.
ECE_SERIES = (("raw logits (T = 1)", "test_ece_raw"), ("at training τ", "test_ece"),
              ("temperature scaled", "test_ece_ts"), ("vector scaled", "test_ece_vs"))
NLL_SERIES = (("raw logits (T = 1)", "test_nll_raw"), ("at training τ", "test_nll"),
              ("temperature scaled", "test_nll_ts"), ("vector scaled", "test_nll_vs"))


# -- pure plot functions ------------------------------------------------------------------------

def _draw_reliability(ax, bins: Mapping[str, np.ndarray], label: str) -> None:
    """Accuracy per confidence bin (bars), its gap to the mean confidence, and the diagonal."""
    edges = np.asarray(bins["edges"], dtype=float)
    counts = np.asarray(bins["counts"], dtype=float)
    acc = np.asarray(bins["accuracy"], dtype=float)
    conf = np.asarray(bins["confidence"], dtype=float)
    left, width = edges[:-1], np.diff(edges)
    full = counts > 0
    ax.bar(left[full], acc[full], width=width[full], align="edge", color="#4C72B0",
           edgecolor="black", linewidth=0.5, label="accuracy")
    ax.bar(left[full], conf[full] - acc[full], bottom=acc[full], width=width[full],
           align="edge", color="#DD8452", alpha=0.45, edgecolor="#C44E52", linewidth=0.5,
           hatch="//", label="gap to confidence")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    n = counts.sum()
    ece = float(np.nansum(counts[full] * np.abs(acc[full] - conf[full])) / n) if n else math.nan
    ax.text(0.04, 0.93, f"ECE = {ece:.4f}\nn = {int(n)}", transform=ax.transAxes, va="top",
            fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})
    ax.set(xlim=(0, 1), ylim=(0, 1), title=label)
    ax.set_aspect("equal")


def reliability_figure(before: Mapping, after: Mapping | None = None, *,
                       title: str = "") -> Figure:
    """Reliability diagram of one model: ``before`` (and ``after`` scaling, side by side).

    Each argument is a :func:`tempcheck.metrics.reliability_bins` dict for unbanked logits:
    ``edges`` (B + 1,), ``counts``, ``confidence``, ``accuracy`` (B,)."""
    panels = [("before scaling", before)] + ([("after scaling", after)] if after else [])
    fig = Figure(figsize=(3.6 * len(panels), 3.8), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, bins) in zip(axes, panels):
        _draw_reliability(ax, bins, label)
        ax.set_xlabel("confidence (max p)")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="lower right", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def reliability_grid(columns: list[tuple[str, Mapping, Mapping | None]], *,
                     row_labels: tuple[str, str] = ("before", "after")) -> Figure:
    """Reliability diagrams of several models: one column per ``(title, before, after)``, the
    first row before scaling, the second after (omitted when every ``after`` is None)."""
    two = any(after is not None for _, _, after in columns)
    n_rows, n_cols = (2 if two else 1), max(1, len(columns))
    fig = Figure(figsize=(panel_width(n_cols, 3.2), 3.3 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for j, (name, before, after) in enumerate(columns):
        for i, bins in enumerate([before, after][:n_rows]):
            ax = axes[i][j]
            if bins is None:
                ax.set_axis_off()
                continue
            _draw_reliability(ax, bins, f"{name}: {row_labels[i]}")
            if i == n_rows - 1:
                ax.set_xlabel("confidence (max p)")
    for i in range(n_rows):
        axes[i][0].set_ylabel("accuracy")
    axes[0][0].legend(loc="lower right", fontsize=7)
    return fig


def _draw_series(ax, series: Mapping[str, Mapping[float, list[float]]], ylabel: str) -> None:
    """Mean over runs against τ (log axis), with a ±1 sample s.d. band (``report.stats``)."""
    for label, by_tau in series.items():
        if not by_tau:
            continue
        taus = np.array(sorted(by_tau))
        stats = np.array([(s.mean, s.band_sd) for s in (mean_sd(by_tau[t]) for t in taus)])
        line, = ax.plot(taus, stats[:, 0], marker="o", markersize=3, label=label)
        ax.fill_between(taus, stats[:, 0] - stats[:, 1], stats[:, 0] + stats[:, 1],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    ax.set(xlabel="training temperature τ", ylabel=ylabel)
    ax.grid(True, which="both", alpha=0.3)


def calibration_vs_temperature_figure(ece: Mapping[str, Mapping[float, list[float]]],
                                      nll: Mapping[str, Mapping[float, list[float]]]) -> Figure:
    """Two panels, test ECE and test NLL against τ; each series maps τ → values over runs."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_ece, ax_nll = fig.subplots(1, 2)
    _draw_series(ax_ece, ece, "test ECE")
    _draw_series(ax_nll, nll, "test NLL")
    ax_nll.set_yscale("log")
    ax_ece.legend(fontsize=8)
    return fig


def fitted_temperature_figure(fitted: Mapping[float, list[float]]) -> Figure:
    """Fitted post-hoc temperature T against training τ (log-log), with the line T = τ."""
    fig = Figure(figsize=(4.8, 4.0), layout="constrained")
    ax = fig.subplots()
    _draw_series(ax, {"fitted T (mean ± sample s.d.)": fitted}, "fitted temperature T")
    ax.set_yscale("log")
    if fitted:
        taus = np.array(sorted(fitted))
        ax.plot(taus, taus, linestyle="--", color="grey", linewidth=1, label="T = τ")
    ax.legend(fontsize=8)
    return fig


# -- the section --------------------------------------------------------------------------------

def _pick_temperatures(taus: list[float]) -> list[float]:
    """Lowest, closest to 1 (in log τ) and highest, without repeats."""
    if not taus:
        return []
    middle = min(taus, key=lambda t: abs(math.log(t)))
    return sorted({taus[0], middle, taus[-1]})


def _member_bins(run: RunData, row: dict, prefix: str) -> dict | None:
    arrays = run.arrays(str(row["group"]))
    key = f"{EVALUATION}/{prefix}_accuracy"
    if key not in arrays or f"{EVALUATION}/rel_edges" not in arrays:
        return None
    k = int(row["member"])
    bins = {"edges": arrays[f"{EVALUATION}/rel_edges"]}
    for part in ("counts", "confidence", "accuracy"):
        bins[part] = arrays[f"{EVALUATION}/{prefix}_{part}"][k]
    return bins if bins["counts"].sum() > 0 else None


def _reliability_columns(run: RunData, rows: list[dict]) -> list[tuple[str, dict, dict | None]]:
    taus = sorted({float(r["temperature"]) for r in rows})
    columns = []
    for tau in _pick_temperatures(taus):
        candidates = sorted((r for r in rows if float(r["temperature"]) == tau),
                            key=lambda r: (str(r.get("seed")), str(r["group"]), r["member"]))
        for r in candidates:
            before = _member_bins(run, r, "rel_tau")
            if before is not None:
                columns.append((f"τ = {tau:g}", before, _member_bins(run, r, "rel_ts")))
                break
    return columns


def _fit_summary(run: RunData) -> str:
    fits = [m for info in run.evals.values() for m in info.get(EVALUATION, {}).get("members", [])]
    fitted = [m for m in fits if not m.get("skipped")]
    if not fitted:
        return "No member had a temperature fit."
    hits = [m for m in fitted if m.get("bound_hit")]
    unconverged = [m for m in fitted if not m.get("converged")]
    grads = [abs(m["final_grad"]) for m in fitted if m.get("final_grad") is not None
             and not m.get("bound_hit")]
    text = (f"Temperature scaling was fitted per member on the validation split with L-BFGS "
            f"(strong Wolfe, float64) for {len(fitted)} members")
    text += f"; largest final |∂NLL/∂log T| {max(grads):.1e}." if grads else "."
    if hits:
        text += (f" {len(hits)} fit(s) ended on a bound of T (T/τ outside the allowed range, "
                 "e.g. a separable validation set): "
                 + ", ".join(f"T = {m['temperature']:.3g} ({m['bound_hit']})" for m in hits[:5])
                 + ".")
    if unconverged:
        text += f" {len(unconverged)} fit(s) did not reach the gradient tolerance."
    skipped = [m for m in fits if m.get("skipped")]
    if skipped:
        text += f" {len(skipped)} member(s) skipped ({skipped[0]['skipped']})."
    return text


def _vector_unconverged(rows: list[dict]) -> list[dict]:
    """Rows whose vector-scaling fit did not reach its gradient tolerance."""
    return [r for r in rows if str(r.get("vs_converged", "")).strip().lower() in ("false", "0",
                                                                                  "0.0")]


def _seed(row: dict) -> str:
    seed = row.get("seed", "?")
    return f"{seed:g}" if isinstance(seed, float) else str(seed)


def _vector_summary(run: RunData, rows: list[dict]) -> str:
    """How vector scaling was fitted and, prominently, where it did not converge."""
    info = next((i[EVALUATION] for i in run.evals.values() if EVALUATION in i), {})
    fits = [m["vs"] for i in run.evals.values() for m in i.get(EVALUATION, {}).get("members", [])
            if isinstance(m.get("vs"), dict) and "converged" in m["vs"]]
    if not info.get("vector_scaling", True) or not fits:
        return ""
    sd = info.get("vs_prior_sd", "?")
    prior = ("without a prior (plain maximum likelihood, prone to overfit a small validation "
             "set)" if sd is None else
             f"as a MAP fit with N(0, {sd:g}²) priors on the per-class relative scales and "
             f"biases, centred on the temperature-scaling solution (penalty λ = 1/(σ²·N_val))")
    text = (f"Vector scaling (w ⊙ z + b per member) was fitted {prior}; "
            f"{sum(bool(f['converged']) for f in fits)} of {len(fits)} fits converged.")
    bad = _vector_unconverged(rows)
    if bad:
        text += (" **Caveat:** vector scaling did not converge for " + ", ".join(
            f"τ = {float(r['temperature']):g} (seed {_seed(r)})" for r in bad[:8])
            + ("…" if len(bad) > 8 else "") + "; the vector-scaled cells of those τ (marked †) "
            "come from an unfinished fit.")
    return text


def build(run: RunData) -> Section:
    """The calibration section of a run folder (``Section.not_run`` when it did not run)."""
    if not run.evaluation_ran(EVALUATION):
        return Section.not_run(TITLE, "the calibration evaluation did not run "
                                      "(include `calibration` in eval.run)")
    rows = run.ok_rows()
    fitted = run.column_by_temperature("ts_temperature", rows)
    if not fitted:
        return Section(TITLE, markdown="No trained member has calibration results "
                                       "(all diverged or failed, or no validation split).",
                       anchor="calibration")
    ece = {label: run.column_by_temperature(col, rows) for label, col in ECE_SERIES}
    nll = {label: run.column_by_temperature(col, rows) for label, col in NLL_SERIES}
    ece = {k: v for k, v in ece.items() if v}
    nll = {k: v for k, v in nll.items() if v}
    figures = [
        ("Test ECE and NLL against the training temperature τ: raw logits, at τ, and after "
         "post-hoc temperature / vector scaling fitted on the validation split (mean over runs "
         f"at each τ; {BAND_NOTE}).", calibration_vs_temperature_figure(ece, nll)),
        ("Post-hoc temperature T fitted on the raw logits against τ (mean over runs; "
         f"{BAND_NOTE}); on the dashed line T = τ the training temperature was already the "
         "calibrated one.",
         fitted_temperature_figure(fitted)),
    ]
    columns = _reliability_columns(run, rows)
    if columns:
        figures.append(("Reliability diagrams on the test split at the lowest τ, τ closest to 1 "
                        "and the highest τ: top at the training temperature, bottom after "
                        "temperature scaling.",
                        reliability_grid(columns, row_labels=("at τ", "scaled"))))
    header = ["τ", "runs", "test acc", "ECE raw", "ECE at τ", "ECE scaled", "NLL at τ",
              "NLL scaled", "T", "T / τ", "ECE vector", "NLL vector"]
    cols = ["test_acc", "test_ece_raw", "test_ece", "test_ece_ts", "test_nll",
            "test_nll_ts", "ts_temperature", "ts_relative_temperature", "test_ece_vs",
            "test_nll_vs"]
    data = {c: run.column_by_temperature(c, rows) for c in cols}
    unfinished = {float(r["temperature"]) for r in _vector_unconverged(rows)}

    def cell(col: str, tau: float) -> str:
        text = format_mean_sd(data[col].get(tau), runs=len(fitted[tau]))
        return text + " †" if col.endswith("_vs") and tau in unfinished else text

    table = [[f"{tau:g}", len(fitted[tau])] + [cell(c, tau) for c in cols]
             for tau in sorted(fitted)]
    n_bins = next((info[EVALUATION].get("n_bins") for info in run.evals.values()
                   if EVALUATION in info), None)
    markdown = "\n\n".join(p for p in [
        f"Post-hoc calibration (Guo et al. 2017): ECE with {n_bins} equal-width confidence bins; "
        "cells are means over the runs at that τ. " + SPREAD_NOTE,
        md_table(header, table),
        _fit_summary(run),
        _vector_summary(run, rows),
    ] if p)
    return Section(TITLE, markdown=markdown, figures=figures, anchor="calibration")
