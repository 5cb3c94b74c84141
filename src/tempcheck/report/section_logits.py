"""Report section "Logits: norm, margin and entropy": what training at τ does to the logits
(docs/theory.md §1, §3, §5), from results.csv and the ``logits/*`` arrays; per-epoch curves when
the training loop logged them."""

from __future__ import annotations

import numpy as np

from . import section_core
from .analysis_helpers import has_epoch_key, representative_members, table_by_temperature
from .base import Section
from .plots import curves_by_temperature
from .plots_analysis import histograms_by_temperature, panels_vs_temperature
from .rundata import RunData
from .stats import BAND_NOTE

TITLE = "Logits: norm, margin and entropy"
EVALUATION = "logits"
TABLE = [("‖z‖", "logit_norm_mean"), ("margin z_y − max z_j", "logit_margin_mean"),
         ("margin / τ", "logit_margin_tau_mean"), ("entropy of softmax(z/τ)",
                                                   "softmax_entropy_mean")]


def _log_edges(edges: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(edges)) and edges[0] > 0)


def build(run: RunData) -> Section:
    """The logits section (``Section.not_run`` when the evaluation did not run)."""
    if not run.evaluation_ran(EVALUATION):
        return Section.not_run(TITLE, "the logits evaluation did not run "
                                      "(include `logits` in eval.run)")
    rows = run.ok_rows()
    col = {c: run.column_by_temperature(c, rows) for _, c in TABLE}
    if not col["logit_norm_mean"]:
        return Section(TITLE, "No trained member has logit statistics (all diverged or "
                              "failed).", anchor="logits")
    figures = [(
        f"Test-set means against τ (mean over runs; {BAND_NOTE}): the raw logit norm ‖z‖, the "
        "true-class margin in raw units and in softmax-input units (margin/τ), and the entropy "
        "(nats) of each member's predictive distribution softmax(z/τ).",
        panels_vs_temperature([
            {"series": col["logit_norm_mean"], "ylabel": "‖z‖", "log_y": True},
            {"series": {"z_y − max z_j": col["logit_margin_mean"],
                        "(z_y − max z_j)/τ": col["logit_margin_tau_mean"]},
             "ylabel": "true-class margin", "hline": 0.0},
            {"series": col["softmax_entropy_mean"], "ylabel": "entropy (nats)"},
        ]))]
    reps = representative_members(run, rows, f"{EVALUATION}/norm_hist")
    if reps:
        panels = []
        for name, label in (("norm", "‖z‖"), ("margin", "z_y − max z_j")):
            hists = {t: (a[f"{EVALUATION}/{name}_hist"][k], a[f"{EVALUATION}/{name}_edges"][k])
                     for t, (_, k, a) in reps.items()}
            panels.append({"hists": hists, "xlabel": label,
                           "log_x": name == "norm" and all(_log_edges(e)
                                                           for _, e in hists.values())})
        panels.append({"hists": {t: (a[f"{EVALUATION}/entropy_hist"][k],
                                     a[f"{EVALUATION}/entropy_edges"])
                                 for t, (_, k, a) in reps.items()},
                       "xlabel": "entropy of softmax(z/τ) (nats)"})
        figures.append(("Distributions over test examples, one member (lowest seed) per τ.",
                        histograms_by_temperature(panels)))
    for key, label in (("logit_margin_mean", "true-class margin"),
                       ("softmax_entropy_mean", "entropy (nats)")):
        if has_epoch_key(run, key):
            figures.append((f"{label.capitalize()} on the validation probe during training (mean "
                            f"over runs; {BAND_NOTE}).",
                            curves_by_temperature(section_core.learning_curves(run, key),
                                                  ylabel=label)))
    text = "\n\n".join([
        "A member trained at τ predicts with softmax(z/τ), so the same confidence needs logits "
        "τ times larger. The margin/τ column is the margin the softmax sees; past ~17 "
        "(float32, 10 classes) the untargeted CE gradient underflows (docs/theory.md §5).",
        table_by_temperature(run, rows, TABLE)])
    return Section(TITLE, text, figures, anchor="logits")
