"""Report section: robustness to common corruptions vs temperature (Hendrycks &
Dietterich, ICLR 2019).

Built from results.csv (``corr_acc_mean``, ``corr_acc_<family>``, ``corr_mce``, ``test_acc``)
and each group's ``corruption/*`` arrays and eval.json info written by ``eval.corruption``
(falling back to the top-level ``corruptions`` table for per-severity accuracy). Figures:
corruption accuracy vs τ, overall and per family (log τ axis, mean over seeds with a ±1 s.d.
band); accuracy vs severity per τ (severity 0 = clean); a grid of example images per corruption
and severity. Tables: the summary per τ and the accuracy per corruption and τ.

Plot functions are pure: data in, a new ``matplotlib.figure.Figure`` out, no pyplot state.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ..data.corruptions import BENCHMARK, FAMILY_NAMES
from .base import Section, md_table
from .plots import finish_accuracy_vs_temperature, tau_palette
from .rundata import RunData
from .stats import BAND_NOTE, SPREAD_NOTE, format_mean_sd, mean_sd

TITLE = "Corruption robustness"
EVALUATION = "corruption"
FAMILY_COLORS = {"noise": "tab:blue", "blur": "tab:orange", "weather": "tab:green",
                 "digital": "tab:red", "extra": "tab:purple"}


# -- pure plot functions -------------------------------------------------------------------------
def _viridis(n: int) -> list:
    return tau_palette(n)  # the report's τ colours (visible on white)


def _band(ax, by_tau: dict[float, list[float]], **style):
    taus = sorted(t for t, v in by_tau.items() if len(v))
    if not taus:
        return
    stats = [mean_sd(by_tau[t]) for t in taus]
    mean, sd = np.array([s.mean for s in stats]), np.array([s.band_sd for s in stats])
    (line,) = ax.plot(taus, mean, marker="o", markersize=3, **style)
    ax.fill_between(taus, mean - sd, mean + sd, color=line.get_color(), alpha=0.15, linewidth=0)


def plot_accuracy_vs_temperature(
    overall: dict[float, list[float]], families: dict[str, dict[float, list[float]]],
    clean: dict[float, list[float]] | None = None,
) -> Figure:
    """Corruption accuracy vs τ (log axis): the overall mean (black), each family, and the clean
    test accuracy (dashed); mean over seeds with a ±1 sample s.d. band. Values are {τ: [per seed]}."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    if clean:
        _band(ax, clean, color="grey", linestyle="--", label="clean")
    for family, by_tau in families.items():
        _band(ax, by_tau, color=FAMILY_COLORS.get(family), label=family)
    _band(ax, overall, color="black", linewidth=2.2, label="corruptions (mean)")
    return finish_accuracy_vs_temperature(fig, ax)


def plot_accuracy_vs_severity(
    curves: dict[float, dict[int, list[float]]], clean: dict[float, list[float]] | None = None,
) -> Figure:
    """Mean accuracy over corruptions vs severity, one line per τ (severity 0 = clean when
    given); mean over seeds with a ±1 sample s.d. band. ``curves``: {τ: {severity: [per seed]}}."""
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    colors = _viridis(len(curves))
    for color, tau in zip(colors, sorted(curves)):
        points = dict(curves[tau])
        if clean and clean.get(tau):
            points[0] = clean[tau]
        sev = sorted(s for s, v in points.items() if len(v))
        stats = [mean_sd(points[s]) for s in sev]
        mean, sd = np.array([s.mean for s in stats]), np.array([s.band_sd for s in stats])
        ax.plot(sev, mean, marker="o", markersize=3, color=color, label=f"τ = {tau:g}")
        ax.fill_between(sev, mean - sd, mean + sd, color=color, alpha=0.12, linewidth=0)
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(range(0, 6))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_example_grid(examples: np.ndarray, names: list[str], severities: list[int],
                      clean: np.ndarray | None = None) -> Figure:
    """Rows: corruptions; columns: the clean image (when given) then each severity.
    ``examples``: uint8 ``(corruptions, severities, C, h, w)``; ``clean``: ``(C, h, w)``."""
    n_rows, n_sev = examples.shape[:2]
    columns = [("clean", clean)] if clean is not None else []
    height = 0.95 * n_rows + 0.5
    fig = Figure(figsize=(1.0 * (n_sev + len(columns)) + 1.4, height))
    axes = fig.subplots(n_rows, n_sev + len(columns), squeeze=False)
    for r in range(n_rows):
        panels = [img for _, img in columns] + [examples[r, s] for s in range(n_sev)]
        for c, img in enumerate(panels):
            ax = axes[r, c]
            pic = np.transpose(img, (1, 2, 0))
            if pic.shape[2] == 1:
                ax.imshow(pic[:, :, 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            else:
                ax.imshow(pic, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                label = "clean" if c < len(columns) else f"s{severities[c - len(columns)]}"
                ax.set_title(label, fontsize=8)
        axes[r, 0].set_ylabel(names[r], fontsize=7, rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.2, right=0.99, top=1 - 0.3 / height, bottom=0.01,
                        wspace=0.05, hspace=0.1)
    return fig


# -- data ----------------------------------------------------------------------------------------
def _info(run: RunData) -> dict:
    return next((e[EVALUATION] for e in run.evals.values() if EVALUATION in e), {})


def _mean_sd(values: list[float]) -> str:
    return format_mean_sd(values, fmt=".3f", sd_fmt=".3f")


def _member_accuracy(run: RunData, rows: list[dict]):
    """Yield (row, names, severities, acc (corruptions, severities)) per trained member, from
    the group arrays, else from the ``corruptions`` table."""
    table: dict[tuple[str, int], list[dict]] = {}
    for t in run.tables.get("corruptions", []):
        table.setdefault((str(t.get("group", "")), int(float(t["member"]))), []).append(t)
    for r in rows:
        group, member = str(r.get("group", "")), int(float(r.get("member", 0)))
        arrays = run.arrays(group) if group else {}
        if f"{EVALUATION}/accuracy" in arrays:
            names = [str(n) for n in arrays[f"{EVALUATION}/corruptions"]]
            sev = [int(s) for s in arrays[f"{EVALUATION}/severities"]]
            yield r, names, sev, arrays[f"{EVALUATION}/accuracy"][member].astype(float)
        elif (group, member) in table:
            cells = table[(group, member)]
            names = list(dict.fromkeys(str(c["corruption"]) for c in cells))
            sev = sorted({int(float(c["severity"])) for c in cells})
            acc = np.full((len(names), len(sev)), np.nan)
            for c in cells:
                acc[names.index(str(c["corruption"])), sev.index(int(float(c["severity"])))] = (
                    float(c["accuracy"]))
            yield r, names, sev, acc


def _severity_curves(members) -> dict[float, dict[int, list[float]]]:
    """{τ: {severity: [mean over the benchmark corruptions (or all) per member]}}."""
    curves: dict[float, dict[int, list[float]]] = {}
    for r, names, sev, acc in members:
        pick = [i for i, n in enumerate(names) if n in BENCHMARK] or list(range(len(names)))
        means = np.nanmean(acc[pick], axis=0)
        for s, v in zip(sev, means):
            if math.isfinite(v):
                curves.setdefault(float(r["temperature"]), {}).setdefault(s, []).append(float(v))
    return curves


def _corruption_table(members) -> tuple[list[str], list[float], dict]:
    """Accuracy (mean over severities) per corruption and τ: {(name, τ): [per member]}."""
    cells: dict[tuple[str, float], list[float]] = {}
    order: list[str] = []
    for r, names, _, acc in members:
        for i, n in enumerate(names):
            if n not in order:
                order.append(n)
            cells.setdefault((n, float(r["temperature"])), []).append(float(np.nanmean(acc[i])))
    taus = sorted({t for _, t in cells})
    return order, taus, cells


def _examples(run: RunData):
    for group in sorted(run.evals):
        arrays = run.arrays(group)
        if f"{EVALUATION}/examples" in arrays:
            clean = arrays.get(f"{EVALUATION}/clean_example")
            return (arrays[f"{EVALUATION}/examples"],
                    [str(n) for n in arrays[f"{EVALUATION}/corruptions"]],
                    [int(s) for s in arrays[f"{EVALUATION}/severities"]],
                    None if clean is None else clean[0])
    return None


def _table_text(info: dict) -> str:
    """Which parameter table generated the corruptions, and why (eval.json ``table``)."""
    table = info.get("table")
    if isinstance(table, dict) and "size" in table:
        return (f"Parameters: the {table['size']} px ({table.get('dataset', '?')}) table, "
                f"{table.get('reason', '')} (option eval.corruption.table). ")
    if isinstance(info.get("profile"), int):  # runs recorded before the table option
        return f"Parameters: the {info['profile']} px table. "
    if str(info.get("source", "")).startswith("released"):
        return "Parameters: those the released files were made with. "
    return ""


def _settings_text(info: dict) -> str:
    if not info:
        return ""
    names = info.get("corruptions", [])
    base = info.get("baseline_temperature")
    base = f"{base:g}" if isinstance(base, (int, float)) else "?"
    return (
        f"{len(names)} corruptions x severities {info.get('severities', [])} on "
        f"{info.get('n_images', '?')} test images each ({info.get('source', '?')}, corruption "
        f"seed {info.get('seed', '?')}); skipped: {', '.join(info.get('skipped', [])) or 'none'}. "
        + _table_text(info) +
        "The corruption mean averages the 15 benchmark corruptions when present; the 4 extras "
        "(speckle noise, Gaussian blur, spatter, saturate) are held out, as in the paper. "
        f"mCE is relative to the member with τ = {base} in each group: "
        "CE_c = Σ_s err(member) / Σ_s err(baseline), averaged over "
        f"{len(info.get('mean_over', []))} corruptions (1 = as robust as the baseline, lower is "
        "better)."
    )


# -- section -------------------------------------------------------------------------------------
def build(run: RunData) -> Section:
    """The corruption section, or ``Section.not_run`` when the evaluation did not run."""
    if not run.evaluation_ran(EVALUATION):
        return Section.not_run(TITLE, "the corruption evaluation (eval.corruption) did not run.")
    rows = [r for r in run.ok_rows() if r.get("corr_acc_mean", "") != ""]
    if not rows:
        return Section.not_run(TITLE, "no trained member has corruption results.")
    overall = run.column_by_temperature("corr_acc_mean", rows)
    families = {f: run.column_by_temperature(f"corr_acc_{f}", rows) for f in FAMILY_NAMES}
    families = {f: v for f, v in families.items() if v}
    clean = run.column_by_temperature("test_acc", rows)
    mce = run.column_by_temperature("corr_mce", rows)
    figures = [("Accuracy under corruption vs training temperature: mean over the benchmark "
                "corruptions and per family, with clean test accuracy (mean over seeds; "
                f"{BAND_NOTE}).", plot_accuracy_vs_temperature(overall, families, clean))]
    members = list(_member_accuracy(run, rows))
    curves = _severity_curves(members)
    if curves:
        figures.append(("Mean accuracy over the benchmark corruptions vs severity, one line per "
                        f"τ (severity 0 = clean; mean over seeds; {BAND_NOTE}).",
                        plot_accuracy_vs_severity(curves, clean)))
    grid = _examples(run)
    if grid is not None:
        examples, names, sev, clean_img = grid
        figures.append(("The same test image under every corruption and severity.",
                        plot_example_grid(examples, names, sev, clean_img)))

    taus = sorted(overall)
    header = ["τ", "clean", "corruptions (mean)"] + list(families) + ["mCE"]
    summary = md_table(header, [
        [f"{t:g}", _mean_sd(clean.get(t, [])), _mean_sd(overall.get(t, []))]
        + [_mean_sd(families[f].get(t, [])) for f in families] + [_mean_sd(mce.get(t, []))]
        for t in taus])
    parts = [_settings_text(_info(run)), "### Accuracy per temperature (mean ± s.d. over seeds)\n\n"
             + summary + "\n\n" + SPREAD_NOTE]
    order, ctaus, cells = _corruption_table(members)
    if order:
        per = md_table(["corruption"] + [f"τ = {t:g}" for t in ctaus], [
            [n] + [_mean_sd(cells.get((n, t), [])) for t in ctaus] for n in order])
        parts.append("### Accuracy per corruption (mean over severities; mean ± sd over "
                     "seeds)\n\n" + per)
    return Section(title=TITLE, markdown="\n\n".join(p for p in parts if p), figures=figures,
                   anchor="corruption")
