"""Pure plotting functions: data in, ``matplotlib.figure.Figure`` out.

No pyplot global state (figures are built with ``Figure()`` directly), so they are safe in
threads, in tests without a display, and in workers. Temperatures go on a log axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .stats import mean_sd, mean_sd_curves

TAU_LABEL = "training temperature τ (log scale)"

# The report shows one figure inch as 96 CSS px (the CSS inch), so text drawn at p points is
# p · 4/3 px on the page: matplotlib's 10 pt ticks read as 13 px body text. The PNG carries 1.5×
# as many pixels for sharp high-density screens. A figure never needs more than the page's
# content width (1,300 px = 13.5 in): multi-panel builders cap their width with
# ``panel_width`` instead of letting the browser shrink their text.
CSS_PX_PER_INCH = 96
PNG_DPI = 144
MAX_FIGURE_INCHES = 13.5
# τ colours: plasma (blue → purple → red → orange) cut at 0.72, so the hottest τ keeps a
# contrast of at least 2.2:1 against the white page (plasma's own end, pale yellow, has 1.15:1)
TAU_COLORMAP, VISIBLE_TOP = "plasma", 0.72


def panel_width(n_panels: int, inches_per_panel: float, extra: float = 0.0) -> float:
    """Width in inches of a row of ``n_panels`` panels, capped at the report's content width."""
    return min(MAX_FIGURE_INCHES, max(1, n_panels) * inches_per_panel + extra)


def intended_width_px(fig: Figure) -> int:
    """The CSS width at which the report shows ``fig`` (its text at its point size)."""
    return int(round(fig.get_figwidth() * CSS_PX_PER_INCH))


def temperature_colors(temperatures: Sequence[float]) -> dict[float, tuple]:
    """A stable colour per τ (cold to hot), every one visible on white (``TAU_COLORMAP``)."""
    taus = sorted(set(float(t) for t in temperatures))
    return dict(zip(taus, tau_palette(len(taus))))


def tau_palette(n: int) -> list[tuple]:
    """``n`` colours from cold to hot, each visible on white."""
    from matplotlib import colormaps

    cmap = colormaps[TAU_COLORMAP]
    return [cmap(VISIBLE_TOP * i / max(1, n - 1)) for i in range(max(n, 1))]


def metric_vs_temperature(
    series: Mapping[str, Mapping[float, Sequence[float]]], *, ylabel: str, title: str = "",
    baseline: float | None = None,
) -> Figure:
    """One line per series: mean over seeds against τ, with a ±1 sample s.d. band
    (``report.stats``, none where n = 1) and the seeds as dots.

    Args:
        series: {label: {τ: [values over seeds]}}.
        baseline: optional horizontal reference line (e.g. chance accuracy).
    """
    fig = Figure(figsize=(5.2, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for label, by_tau in series.items():
        taus = np.array(sorted(by_tau))
        if taus.size == 0:
            continue
        vals = [np.asarray(by_tau[t], dtype=float) for t in taus]
        stats = [mean_sd(v) for v in vals]
        mean = np.array([s.mean for s in stats])
        sd = np.array([s.band_sd for s in stats])
        (line,) = ax.plot(taus, mean, marker="o", label=label)
        ax.fill_between(taus, mean - sd, mean + sd, alpha=0.2, color=line.get_color())
        for t, v in zip(taus, vals):
            ax.scatter(np.full(v.shape, t), v, s=8, color=line.get_color(), alpha=0.5)
    if baseline is not None:
        ax.axhline(baseline, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel(TAU_LABEL)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def fooled_share(rows: Sequence[Mapping], attacks: Mapping[str, str]) -> dict[str, dict]:
    """{attack label: {τ: [share per member]}}: of the sample's inputs a member classified
    correctly, the share the attack made it misclassify, 1 − robust acc / clean acc.

    ``rows``: results rows with ``temperature``, ``clean_acc_adv_sample`` and the attacks'
    columns; ``attacks``: {results column: label}. Members with no correct input are skipped."""
    out: dict[str, dict[float, list[float]]] = {}
    for column, label in attacks.items():
        by_tau: dict[float, list[float]] = {}
        for r in rows:
            clean, robust = r.get("clean_acc_adv_sample"), r.get(column)
            if isinstance(clean, float) and isinstance(robust, float) and clean > 0 \
                    and np.isfinite(robust):
                by_tau.setdefault(float(r["temperature"]), []).append(1.0 - robust / clean)
        if by_tau:
            out[label] = dict(sorted(by_tau.items()))
    return out


def fooled_share_bars(shares: Mapping[str, Mapping[float, Sequence[float]]]) -> Figure:
    """Grouped bars: per τ (x, in order), one bar per attack with the mean share of correctly
    classified inputs it fooled (a fraction, like every share in the report); error bars ±1
    sample s.d. over members (none where n = 1)."""
    taus = sorted({t for by_tau in shares.values() for t in by_tau})
    n = max(1, len(shares))
    fig = Figure(figsize=(panel_width(len(taus), 1.1, extra=1.6), 3.4), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / n
    x = np.arange(len(taus))
    for i, (label, by_tau) in enumerate(shares.items()):
        vals = [np.asarray(by_tau.get(t, []), dtype=float) for t in taus]
        stats = [mean_sd(v) for v in vals]
        mean = np.array([s.mean for s in stats])
        sd = np.array([s.band_sd for s in stats])
        ax.bar(x - 0.4 + width * (i + 0.5), mean, width=width, yerr=sd, capsize=1.5,
               label=label, error_kw={"lw": 0.6})
    ax.set_xticks(x, [f"{t:g}" for t in taus])
    ax.set_xlabel("training temperature τ")
    ax.set_ylabel("share of correct inputs fooled")
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def finish_accuracy_vs_temperature(fig: Figure, ax, ylabel: str = "accuracy") -> Figure:
    """Shared styling of an accuracy-against-τ panel: log τ axis, [0, 1] range, grid, legend."""
    ax.set_xscale("log")
    ax.set_xlabel(TAU_LABEL)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def curves_by_temperature(
    curves: Mapping[float, Sequence[Sequence[float]]], *, ylabel: str, xlabel: str = "epoch",
    title: str = "", log_y: bool = False,
) -> Figure:
    """Per τ: the mean curve over seeds with a ±1 sample s.d. band (none where n = 1).

    Args:
        curves: {τ: [curve per seed]}, each curve a sequence over epochs (NaN where missing).
    """
    fig = Figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    colors = temperature_colors(list(curves))
    for tau in sorted(curves):
        runs = [np.asarray(c, dtype=float) for c in curves[tau] if len(c)]
        if not runs:
            continue
        n = max(len(r) for r in runs)
        mat = np.full((len(runs), n), np.nan)
        for i, r in enumerate(runs):
            mat[i, : len(r)] = r
        mean, sd, _ = mean_sd_curves(mat)  # epochs no seed reached: NaN
        x = np.arange(1, n + 1)
        ax.plot(x, mean, color=colors[tau], label=f"τ={tau:g}")
        ax.fill_between(x, mean - sd, mean + sd, color=colors[tau], alpha=0.15)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="x-small", ncol=2)
    ax.grid(alpha=0.3)
    return fig


def figure_png(fig: Figure, dpi: int = PNG_DPI) -> bytes:
    """Render a Figure to PNG bytes with the Agg canvas."""
    return _render(fig, "png", dpi)


def figure_svg(fig: Figure) -> bytes:
    """Render a Figure to SVG (vector, text kept as paths so it looks the same everywhere)."""
    return _render(fig, "svg", CSS_PX_PER_INCH)


def keep_bands_positive(fig: Figure) -> Figure:
    """On every log-scaled axis, lift band edges (filled areas) that fall to or below zero.

    A mean ± s.d. band of a positive quantity can reach below zero, which a log axis cannot
    show: matplotlib would draw it down to the bottom of the axes, as if the spread were
    unbounded. Such edges are set to half the smallest positive value the axes' lines show
    (the band then ends visibly just below the lowest curve). Returns ``fig`` (changed in place).
    """
    from matplotlib.collections import PolyCollection

    for ax in fig.axes:
        for axis, scale, col in (("y", ax.get_yscale(), 1), ("x", ax.get_xscale(), 0)):
            if scale != "log":
                continue
            values = [np.asarray(line.get_ydata() if axis == "y" else line.get_xdata(),
                                 dtype=float) for line in ax.lines]
            positive = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values] or [[]])
            if positive.size == 0:
                continue
            floor = 0.5 * float(positive.min())
            for coll in ax.collections:
                if not isinstance(coll, PolyCollection):
                    continue
                for path in coll.get_paths():
                    v = path.vertices
                    v[:, col] = np.where(np.isfinite(v[:, col]) & (v[:, col] <= 0), floor,
                                         v[:, col])
    return fig


def figure_png_svg(fig: Figure) -> tuple[bytes, bytes]:
    """The PNG and the SVG of ``fig``, laid out once: the SVG reuses the positions the PNG's
    layout engine chose (the layout, not the drawing, is most of a report figure's cost)."""
    png = figure_png(fig)
    engine = fig.get_layout_engine()
    fig.set_layout_engine("none")  # keeps the axes where the PNG's layout put them
    try:
        return png, figure_svg(fig)
    finally:
        fig.set_layout_engine(engine)


# The figures a forked renderer reads; set only while ``render_figures`` runs.
_TO_RENDER: list[Figure] = []


def _render_one(i: int) -> tuple[bytes, bytes]:
    return figure_png_svg(_TO_RENDER[i])


def render_figures(figs: Sequence[Figure], workers: int | None = None) -> list[tuple[bytes, bytes]]:
    """(PNG, SVG) of every figure, in order, on up to ``workers`` processes (None: the CPUs
    this process may use, at most 4). The workers are forked, so they read the figures from
    memory instead of pickling them; without ``fork`` (or for one or two figures) it renders
    here. The bytes are the same either way. Not re-entrant: one call at a time per process
    (the forked workers find the figures in a module variable)."""
    import multiprocessing
    import os

    if workers is None:
        workers = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1)
    workers = min(workers, len(figs))
    if workers < 2 or len(figs) < 3 or "fork" not in multiprocessing.get_all_start_methods():
        return [figure_png_svg(f) for f in figs]
    global _TO_RENDER
    _TO_RENDER = list(figs)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            # chunks of one: figures differ a lot in cost, so hand them out one by one
            return pool.map(_render_one, range(len(figs)), chunksize=1)
    except OSError:  # no processes or no shared memory here (a sandbox): render in this one
        return [figure_png_svg(f) for f in figs]
    finally:
        _TO_RENDER = []


def _render(fig: Figure, fmt: str, dpi: int) -> bytes:
    import io

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    keep_bands_positive(fig)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # no date and a fixed salt for the SVG's element ids (matplotlib draws a random one per
    # render otherwise): the same figure gives the same bytes
    meta = {"Date": None} if fmt == "svg" else None
    with matplotlib.rc_context({"svg.hashsalt": "tempcheck"}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta)
    return buf.getvalue()
