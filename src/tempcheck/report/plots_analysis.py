"""Pure plotting functions for the analysis sections (gradients, logits, features, dynamics):
data in, ``matplotlib.figure.Figure`` out, no pyplot state (see ``report/plots.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .plots import TAU_LABEL, panel_width, temperature_colors
from .stats import mean_sd

Series = Mapping[float, Sequence[float]]  # τ → values over runs


def _draw_vs_temperature(ax, by_tau: Series, *, log_y: bool = False, label: str | None = None):
    taus = np.array(sorted(by_tau))
    if taus.size == 0:
        return
    stats = [mean_sd(by_tau[t]) for t in taus]
    mean = np.array([s.mean for s in stats])
    sd = np.array([s.band_sd for s in stats])
    (line,) = ax.plot(taus, mean, marker="o", markersize=3, label=label)
    ax.fill_between(taus, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)


def panels_vs_temperature(panels: Sequence[dict], *, title: str = "") -> Figure:
    """One panel per dict ``{"series": {τ: [values]} or {label: {τ: [values]}}, "ylabel",
    "log_y" (opt.), "hline" (opt. reference value), "hline_label" (opt.)}``: mean over runs
    against τ (log axis) with a ±1 sample s.d. band (none where n = 1)."""
    fig = Figure(figsize=(panel_width(len(panels), 3.6), 3.3), layout="constrained")
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        series = panel["series"]
        nested = bool(series) and isinstance(next(iter(series.values())), Mapping)
        groups = series.items() if nested else [(None, series)]
        for label, by_tau in groups:
            _draw_vs_temperature(ax, by_tau, log_y=panel.get("log_y", False), label=label)
        if panel.get("hline") is not None:
            ax.axhline(panel["hline"], color="grey", ls="--", lw=0.8,
                       label=panel.get("hline_label"))
        ax.set_xlabel(TAU_LABEL, fontsize=8)
        ax.set_ylabel(panel["ylabel"])
        if nested or panel.get("hline_label"):
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def histograms_by_temperature(panels: Sequence[dict]) -> Figure:
    """Histograms per τ as step lines, one panel per dict ``{"hists": {τ: (counts (B,),
    edges (B + 1,))}, "xlabel", "log_x" (opt.)}``; counts are shown as fractions."""
    fig = Figure(figsize=(panel_width(len(panels), 4.2), 3.3), layout="constrained")
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        hists = panel["hists"]
        colors = temperature_colors(list(hists))
        for tau in sorted(hists):
            counts, edges = (np.asarray(a, dtype=float) for a in hists[tau])
            total = counts.sum()
            if total <= 0 or not np.all(np.isfinite(edges)):
                continue
            ax.stairs(counts / total, edges, color=colors[tau], label=f"τ={tau:g}")
        if panel.get("log_x"):
            ax.set_xscale("log")
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel("fraction of test examples")
        ax.grid(alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=7, ncol=2)
    return fig


def rank_profile(profiles: Mapping[float, Sequence[float]]) -> Figure:
    """Mean negative-class weight q by rank (hardest negative first) per τ, log y, with the
    uniform level 1/(C − 1)."""
    fig = Figure(figsize=(4.6, 3.3), layout="constrained")
    ax = fig.subplots()
    colors = temperature_colors(list(profiles))
    n = 1
    for tau in sorted(profiles):
        q = np.asarray(profiles[tau], dtype=float)
        n = max(n, q.size)
        ax.plot(np.arange(1, q.size + 1), q, marker=".", color=colors[tau], label=f"τ={tau:g}")
    ax.axhline(1.0 / n, color="grey", ls="--", lw=0.8, label="uniform 1/(C−1)")
    ax.set_yscale("log")
    ax.set_xlabel("rank of the negative class (1 = hardest)")
    ax.set_ylabel("mean q")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, which="both")
    return fig


def embedding_grid(rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray, np.ndarray]]]],
                   class_names: Sequence[str] | None = None) -> Figure:
    """A grid of 2-D maps coloured by class, with a class legend on the right: ``rows`` =
    [(row title, [(column title, embedding (n, 2), labels (n,)), ...]), ...]; ``class_names``
    label the legend (default: the class indices)."""
    from matplotlib import colormaps

    n_rows = max(1, len(rows))
    n_cols = max(1, max((len(r[1]) for r in rows), default=1))
    legend = 0.9  # inches kept on the right for the class legend
    width = panel_width(n_cols, 2.3, extra=legend)
    per_panel = (width - legend) / n_cols
    fig = Figure(figsize=(width, 2.4 * n_rows * per_panel / 2.3), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    n_classes = max((int(np.max(lab)) + 1 for _, maps in rows for _, _, lab in maps
                     if np.size(lab)), default=1)
    cmap = colormaps["tab10" if n_classes <= 10 else "tab20"]
    for i, (row_title, maps) in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(maps):
                ax.set_axis_off()
                continue
            col_title, emb, labels = maps[j]
            emb = np.asarray(emb, dtype=float)
            if emb.size and np.isfinite(emb).all():
                ax.scatter(emb[:, 0], emb[:, 1], c=np.asarray(labels) % cmap.N, cmap=cmap,
                           s=4, vmin=0, vmax=cmap.N - 1, linewidths=0)
            else:
                ax.text(0.5, 0.5, "no map", ha="center", transform=ax.transAxes)
            ax.set_title(col_title, fontsize=8)
            if j == 0:
                ax.set_ylabel(row_title, fontsize=8)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", markersize=5, color=cmap(c % cmap.N),
                      label=class_names[c] if class_names else str(c))
               for c in range(n_classes)]
    fig.legend(handles=handles, title="class", fontsize=7, title_fontsize=8,
               loc="outside right upper")
    return fig


def early_curves(steps: np.ndarray, betas: Sequence[float], predicted: np.ndarray,
                 measured: np.ndarray, *, ylabel: str, log_y: bool = False) -> Figure:
    """Linearised prediction (dashed) against measured gradient descent (solid), one colour per
    β; ``predicted``/``measured`` are (R, T + 1)."""
    fig = Figure(figsize=(5.0, 3.4), layout="constrained")
    ax = fig.subplots()
    colors = temperature_colors(list(betas))
    for r, beta in enumerate(betas):
        ax.plot(steps, measured[r], color=colors[float(beta)], label=f"β={beta:g} measured")
        ax.plot(steps, predicted[r], color=colors[float(beta)], ls="--", lw=1,
                label=f"β={beta:g} linearised")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return fig


def collapse_figure(steps: np.ndarray, betas: Sequence[float], matched: np.ndarray,
                    matched_labels: Sequence[str], control: np.ndarray,
                    control_labels: Sequence[str]) -> Figure:
    """Left: loss of runs with equal η β² and equal ‖β z₀‖ (should coincide); right: the
    control runs (same η and head scale for every β)."""
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    colors = temperature_colors(list(betas))
    for ax, curves, labels, title in ((left, matched, matched_labels, "equal η β², equal ‖βz₀‖"),
                                      (right, control, control_labels, "control: equal η, σ_w")):
        for r, beta in enumerate(betas):
            ax.plot(steps, curves[r], color=colors[float(beta)], label=labels[r])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("gradient-descent step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    left.set_ylabel("training loss (mean CE at β)")
    return fig


def stability_figure(tried_beta: np.ndarray, tried_eta: np.ndarray, tried_stable: np.ndarray,
                     betas: np.ndarray, eta_max: np.ndarray, fit: Mapping | None,
                     edges: Mapping[str, np.ndarray]) -> Figure:
    """Stability scan: every tried (β, η) (circle stable, cross unstable), the measured edge
    η_max per β, its fitted power law, and predicted edges ({label: (S,)}) as dashed lines."""
    fig = Figure(figsize=(5.2, 3.8), layout="constrained")
    ax = fig.subplots()
    ok = np.asarray(tried_stable, dtype=bool)
    ax.scatter(tried_beta[ok], tried_eta[ok], marker="o", s=14, facecolors="none",
               edgecolors="tab:green", label="stable")
    ax.scatter(tried_beta[~ok], tried_eta[~ok], marker="x", s=14, color="tab:red",
               label="unstable")
    ax.plot(betas, eta_max, "k-o", markersize=4, label="measured η_max")
    if fit and fit.get("slope") is not None and np.isfinite(fit.get("slope", np.nan)):
        b = np.geomspace(min(betas), max(betas), 50)
        se = fit.get("slope_se")
        ax.plot(b, np.exp(fit["intercept"]) * b ** fit["slope"], color="k", ls=":",
                label=f"fit: slope {fit['slope']:.2f}" + (f" ± {se:.2f}" if se is not None
                                                           and np.isfinite(se) else ""))
    for label, values in edges.items():
        v = np.asarray(values, dtype=float)
        if np.isfinite(v).any():
            ax.plot(betas, v, ls="--", marker=".", label=label)
    b = np.geomspace(min(betas), max(betas), 2)
    ax.plot(b, eta_max[0] * (b / betas[0]) ** -2.0, color="grey", lw=0.8, alpha=0.6,
            label="slope −2 (theory)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(list(betas), [f"{b:g}" for b in betas])
    ax.minorticks_off()
    ax.set_xlabel("inverse temperature β (log scale)")
    ax.set_ylabel("learning rate η (log scale)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return fig
