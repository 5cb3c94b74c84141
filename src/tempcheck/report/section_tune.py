"""Report section "Choosing τ automatically": the members' validation curves in the tune, which
τ was dropped at which rung and why, the choice, what it cost in member-epochs, and — when the
tune ran in a sweep's folder — the chosen τ against the full sweep's best. Built from
``tune.json`` (``OUT/tune.json``, or ``OUT/tune/tune.json`` beside a sweep) only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .base import Section, md_table
from .plots import temperature_colors
from .rundata import RunData

TITLE = "Choosing τ automatically (tune)"


def find_tune(root: Path) -> Path | None:
    for path in (root / "tune.json", root / "tune" / "tune.json"):
        if path.is_file():
            return path
    return None


def tune_curves_figure(seed: dict, *, ylabel: str) -> Figure:
    """One line per candidate: its objective over the epochs it trained; a cross where it was
    dropped, a ring where it was kept as a slow starter, dotted verticals at the rungs."""
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    taus = seed["temperatures"]
    colors = temperature_colors(taus)
    curves = np.array([[np.nan if v is None else v for v in row]
                       for row in seed["curves"]["objective"]], dtype=float)  # (E, n)
    epochs = np.arange(1, curves.shape[0] + 1)
    for i, tau in enumerate(taus):
        label = f"τ = {tau:g}" + ("  (chosen)" if i == seed["chosen"] else "")
        ax.plot(epochs, curves[:, i], color=colors[float(tau)], lw=2.2 if i == seed["chosen"]
                else 1.2, label=label)
    for d in seed["dropped"]:
        ax.plot(d["epoch"], curves[d["epoch"] - 1, d["member"]], "x", ms=8,
                color=colors[float(d["temperature"])])
    for p in seed.get("protected", []):
        ax.plot(p["epoch"], curves[p["epoch"] - 1, p["member"]], "o", ms=9, mfc="none",
                color=colors[float(p["temperature"])])
    for rung in seed["plan"]:
        ax.axvline(rung["epoch"], color="grey", ls=":", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"seed {seed['seed']}: × dropped, ○ kept as a slow starter, ┊ rungs",
                 fontsize=9)
    return fig


def build(run: RunData) -> Section:
    path = find_tune(Path(run.root))
    if path is None:
        return Section.not_run(TITLE, "no tune in this folder (`tempcheck tune --out` this "
                                      "folder to add one)")
    tune = json.loads(path.read_text(encoding="utf-8"))
    objective = tune["objective"]
    lines = [
        f"Objective **{objective}** on the validation split, rule "
        f"**{tune['options']['rule']}**, plan "
        + ", ".join(f"epoch {r['epoch']} → keep {r['keep']}" for r in tune["plan"])
        + f". Chosen **τ = {tune['temperature']:g}** (votes over seeds: "
        + ", ".join(f"τ {t}: {c}" for t, c in tune["votes"].items()) + "). "
        f"Cost: {tune['member_epochs']} member-epochs, "
        f"{100 * tune['budget_fraction']:.1f}% of the full sweep's "
        f"{tune['full_sweep_member_epochs']}; wall time {tune['wall_seconds']:.0f} s.",
        "",
    ]
    rows = []
    for s in tune["seeds"]:
        for d in s["dropped"]:
            rows.append([s["seed"], f"{d['temperature']:g}", d["epoch"], d["reason"]])
        for p in s.get("protected", []):
            rows.append([s["seed"], f"{p['temperature']:g}", p["epoch"],
                         f"kept below the cut (rank {p['rank']}): catches up in "
                         f"{p['catch_up_epochs']:.1f} epochs"])
        rows.append([s["seed"], f"{s['temperatures'][s['chosen']]:g}", s["epoch"],
                     f"chosen ({objective} {s['chosen_value']:.4g})"])
    lines.append(md_table(["seed", "τ", "epoch", "decision"], rows))
    full = tune.get("full_sweep")
    if full:
        lines += ["", f"Against the full sweep in this folder (test accuracy, mean over its "
                      f"seeds): chosen τ = {tune['temperature']:g} scores "
                      f"{100 * full['chosen_test_acc']:.2f}%, the best τ = "
                      f"{full['best_temperature']:g} scores {100 * full['best_test_acc']:.2f}% "
                      f"(regret {100 * full['regret']:.2f} points)."]
    if tune.get("retrain"):
        r = tune["retrain"]
        sd = f" ± {100 * r['test_acc_sd']:.2f}" if r.get("test_acc_sd") is not None else \
            " (n = 1)"
        lines += ["", f"Retrained at τ = {tune['temperature']:g} with seeds {r['seeds']}: "
                      f"test accuracy {100 * r['test_acc_mean']:.2f}{sd}% "
                      f"(sample s.d. over seeds)."]
    figures = [(f"Tune, seed {s['seed']}: validation {objective} of every candidate over "
                "the epochs it trained", tune_curves_figure(s, ylabel=f"validation {objective}"))
               for s in tune["seeds"]]
    return Section(title=TITLE, markdown="\n".join(lines), figures=figures)
