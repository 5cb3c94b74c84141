"""Report section "Early-learning theory against measurement" (Agarwala et al. 2023;
docs/theory.md §3): the linearised prediction against real gradient descent, the η β² collapse and
the stability edge. Reads ``dynamics.json`` and ``dynamics.npz`` at the top of the run folder
(written by ``tempcheck.analysis.dynamics.write_dynamics``)."""

from __future__ import annotations

import json
import math

import numpy as np

from .base import Section, md_table
from .plots_analysis import collapse_figure, early_curves, stability_figure
from .rundata import RunData

TITLE = "Early-learning theory against measurement"


def load(run: RunData) -> tuple[dict, dict] | None:
    """(dynamics.json, dynamics.npz arrays) of the run folder, or None when absent."""
    js, npz = run.root / "dynamics.json", run.root / "dynamics.npz"
    if not (js.is_file() and npz.is_file()):
        return None
    info = json.loads(js.read_text(encoding="utf-8"))
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return info, arrays


def _num(v, fmt: str = ".3g") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else \
        format(v, fmt)


def _fit_text(fit: dict) -> str:
    if not fit or fit.get("slope") is None:
        return "–"
    se = fit.get("slope_se")
    return f"{fit['slope']:.2f}" + (f" ± {se:.2f}" if se is not None else "")


def _figures(info: dict, a: dict) -> list[tuple]:
    betas = [float(b) for b in a["betas"]]
    steps = a["steps"]
    control = info.get("control") or [{"beta": b, "eta": math.nan} for b in betas]
    figures = [
        ("Training loss of full-batch gradient descent (solid) and the linearised prediction "
         "from the tangent kernel at init (dashed), per β, with equal η β² and equal ‖βz₀‖.",
         early_curves(steps, betas, a["pred_loss"], a["meas_loss"],
                      ylabel="training loss (mean CE at β)", log_y=True)),
        ("Training accuracy, measured (solid) and linearised (dashed).",
         early_curves(steps, betas, a["pred_acc"], a["meas_acc"], ylabel="training accuracy")),
        ("Collapse: runs with equal η β² and equal ‖βz₀‖ (left) against runs with the same η "
         "and head scale for every β (right).",
         collapse_figure(steps, betas, a["meas_loss"],
                         [f"β={b:g}, η={e:.3g}" for b, e in zip(betas, a["etas"])],
                         a["control_loss"],
                         [f"β={c['beta']:g}, η={c['eta']:.3g}" for c in control])),
    ]
    stab = info.get("stability", {})
    edges = {"Gauss–Newton edge at init": a["scan_eta_edge"]}
    if "scan_eta_hessian" in a:
        edges["full-Hessian edge at init"] = a["scan_eta_hessian"]
    figures.append((
        "Stability scan: every tried step (circle stable, cross unstable), the measured largest "
        "stable step per β with its least-squares power law, the edges predicted from the "
        "curvature at init, and a slope −2 reference.",
        stability_figure(a["scan_tried_beta"], a["scan_tried_eta"], a["scan_tried_stable"],
                         a["scan_betas"], a["scan_eta_max"], stab.get("fit"), edges)))
    return figures


def _markdown(info: dict) -> str:
    stab = info.get("stability", {})
    runs_table = md_table(
        ["β", "η", "σ_w", "‖βz₀‖", "max rel. loss error", "steps within 1%", "steps within 5%",
         "final loss (meas. / lin.)"],
        [[f"{r['beta']:g}", _num(r["eta"]), _num(r["head_init_scale"]), _num(r["u0_norm"]),
          _num(r["max_rel_loss_error"]), r["horizon_1pct"], r["horizon_5pct"],
          f"{_num(r['final_loss'])} / {_num(r['final_pred_loss'])}"]
         for r in info.get("runs", [])])
    col = info.get("collapse", {})
    betas_scan = stab.get("betas", [])
    hess = stab.get("eta_hessian") or [None] * len(betas_scan)
    with_hessian = any(h is not None for h in hess)
    stab_table = md_table(
        ["β", "measured η_max", "Gauss–Newton edge"] + (["full-Hessian edge"] if with_hessian
                                                        else []),
        [[f"{b:g}", _num(m), _num(e)] + ([_num(h)] if with_hessian else [])
         for b, m, e, h in zip(betas_scan, stab.get("eta_max", []), stab.get("eta_edge", []),
                               hess)])
    hessian_text = (f"; full-Hessian edge at init {_fit_text(stab.get('hessian_fit'))}"
                    if with_hessian else "")
    return "\n\n".join([
        f"`{info.get('model')}` on {info.get('n_examples')} `{info.get('dataset')}` training "
        f"examples, full-batch gradient descent for {info.get('steps')} steps in "
        f"{info.get('dtype')}, model in {info.get('mode')}; loss: {info.get('loss')}; "
        f"prediction: `{info.get('update')}` with Θ the tangent kernel at init; "
        f"η β² = {_num(info.get('eta_beta2'))}.",
        runs_table,
        md_table(
            ["collapse: loss spread (max − min)/mean across β",
             f"first {col.get('early_steps', '?')} steps", f"all {info.get('steps')} steps"],
            [[label, _num(col.get(f"{key}_spread_early")), _num(col.get(f"{key}_spread"))]
             for label, key in (("equal η β², equal ‖βz₀‖ (measured)", "matched"),
                                ("equal η β², equal ‖βz₀‖ (linearised)", "predicted"),
                                ("control: equal η and σ_w", "control"))]),
        f"Stability ({stab.get('criterion', '')}; {stab.get('steps')} steps, edge resolved to a "
        f"factor {_num(stab.get('resolution'), '.3f')}; head scale "
        f"{'matched to keep ‖βz₀‖' if stab.get('match_u0') else 'fixed'}): fitted exponent of "
        f"η_max ∝ β^s: s = {_fit_text(stab.get('fit'))} (theory −2); Gauss–Newton edge at "
        f"init {_fit_text(stab.get('edge_fit'))}{hessian_text}.",
        stab_table,
    ])


def build(run: RunData) -> Section:
    """The dynamics section (``Section.not_run`` when the run folder has no dynamics files)."""
    loaded = load(run)
    if loaded is None:
        return Section.not_run(TITLE, "no dynamics.json / dynamics.npz in the run folder (run "
                                      "`tempcheck dynamics --out RUN_DIR`)")
    info, arrays = loaded
    return Section(TITLE, _markdown(info), _figures(info, arrays), anchor="dynamics")
