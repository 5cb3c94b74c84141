"""Report section "Gradient balance across negative classes" (docs/theory.md §2; Xuan, Yang, Li
2025): how evenly the tempered cross-entropy pushes the negative classes, and how large its
step is, against τ. Built from results.csv and the ``gradients/*`` arrays only."""

from __future__ import annotations

from . import section_core
from .analysis_helpers import has_epoch_key, representative_members, table_by_temperature
from .base import Section
from .plots import curves_by_temperature
from .plots_analysis import histograms_by_temperature, panels_vs_temperature, rank_profile
from .rundata import RunData
from .stats import BAND_NOTE

TITLE = "Gradient balance across negative classes"
EVALUATION = "gradients"
TABLE = [("H(q)/log(C−1)", "grad_q_entropy"), ("exp H(q)", "grad_eff_negatives"),
         ("max q", "grad_max_q"), ("hardest share", "grad_hardest_share"),
         ("(1 − p_y)/τ", "grad_step_factor")]


def _n_negatives(reps: dict) -> int | None:
    """C − 1, from the width of the stored rank profile."""
    for _row, _k, arrays in reps.values():
        return int(arrays[f"{EVALUATION}/q_sorted_mean"].shape[-1])
    return None


def build(run: RunData) -> Section:
    """The gradient-balance section (``Section.not_run`` when the evaluation did not run)."""
    if not run.evaluation_ran(EVALUATION):
        return Section.not_run(TITLE, "the gradients evaluation did not run "
                                      "(include `gradients` in eval.run)")
    rows = run.ok_rows()
    col = {c: run.column_by_temperature(c, rows) for _, c in TABLE}
    if not col["grad_max_q"]:
        return Section(TITLE, "No trained member has gradient statistics (all diverged or "
                              "failed).", anchor="gradients")
    reps = representative_members(run, rows, f"{EVALUATION}/q_sorted_mean")
    n_neg = _n_negatives(reps)
    uniform = 1.0 / n_neg if n_neg else None
    figures = [(
        "Negative-class gradient weights q_j = p_j/(1 − p_y) against τ, means over test "
        f"examples (mean over runs; {BAND_NOTE}): normalised entropy of q (1 = all negatives "
        "pushed equally), max q (dashed: uniform 1/(C − 1)), and the step factor (1 − p_y)/τ.",
        panels_vs_temperature([
            {"series": col["grad_q_entropy"], "ylabel": "H(q) / log(C − 1)", "hline": 1.0},
            {"series": {"max q": col["grad_max_q"],
                        "hardest share": col["grad_hardest_share"]},
             "ylabel": "weight of the hardest negative", "hline": uniform},
            {"series": col["grad_step_factor"], "ylabel": "(1 − p_y)/τ", "log_y": True},
        ]))]
    hist_key = f"{EVALUATION}/entropy_hist"
    hreps = representative_members(run, rows, hist_key)
    if hreps:
        edges = {t: a[f"{EVALUATION}/hist_edges"] for t, (_, _, a) in hreps.items()}
        figures.append((
            "Distribution over test examples of the normalised entropy of q and of max q, one "
            "member (lowest seed) per τ.",
            histograms_by_temperature([
                {"hists": {t: (a[hist_key][k], edges[t]) for t, (_, k, a) in hreps.items()},
                 "xlabel": "H(q) / log(C − 1)"},
                {"hists": {t: (a[f"{EVALUATION}/max_q_hist"][k], edges[t])
                           for t, (_, k, a) in hreps.items()}, "xlabel": "max q"},
            ])))
    if reps:
        figures.append((
            "Mean q by rank of the negative class (1 = largest logit), one member per τ: a cold "
            "softmax chases one confuser, a hot one spreads the push over all negatives.",
            rank_profile({t: a[f"{EVALUATION}/q_sorted_mean"][k]
                          for t, (_, k, a) in reps.items()})))
    if has_epoch_key(run, "grad_q_entropy"):
        figures.append((f"Normalised entropy of q on the validation probe during training "
                        f"(mean over runs; {BAND_NOTE}).",
                        curves_by_temperature(section_core.learning_curves(run, "grad_q_entropy"),
                                              ylabel="H(q) / log(C − 1)")))
    errors = [v for vals in run.column_by_temperature("grad_closed_form_error", rows).values()
              for v in vals]
    check = ("The closed form −((1 − p_y)/τ)·[w_y − Σ q_j w_j] was checked against autograd "
             f"through each model's head: largest relative discrepancy {max(errors):.1e}."
             if errors else "The closed-form check against autograd did not run.")
    text = "\n\n".join([
        "With a linear head z_j = w_j·f + b_j, ∂CE_τ/∂f = −((1 − p_y)/τ)·[w_y − Σ_{j≠y} q_j w_j]"
        " (docs/theory.md §2): q sets the direction, (1 − p_y)/τ the step. *hardest share* is the "
        "hardest negative's share of the squared negative-class gradient, max q² / Σ q².",
        table_by_temperature(run, rows, TABLE), check])
    return Section(TITLE, text, figures, anchor="gradients")
