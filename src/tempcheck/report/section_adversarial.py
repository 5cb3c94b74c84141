"""Report section: adversarial robustness vs temperature, and whether it is real.

Built from results.csv (``robust_acc_<attack>``, ``robust_acc_worst``, the masking columns) and
each group's ``adversarial/*`` arrays and eval.json info written by ``eval.robustness``
(docs/theory.md §5). Figures: robust accuracy vs τ per attack and worst case (log τ axis, mean and
spread over seeds), PGD(CE_τ) robust accuracy vs ε per τ, and the logits of a fixed sample
before and after PGD (as in Xuan, Yang, Li 2025). Tables: accuracy per τ, the masking
diagnostics per τ, and a plain-words verdict per member with the reasons.

Plot functions are pure: data in, a new ``matplotlib.figure.Figure`` out, no pyplot state.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from .base import Section, md_table
from .plots import (
    finish_accuracy_vs_temperature,
    fooled_share,
    fooled_share_bars,
    panel_width,
    tau_palette,
)
from .rundata import RunData
from .stats import BAND_NOTE, SPREAD_NOTE, format_mean_sd, mean_sd, mean_sd_curves

TITLE = "Adversarial robustness"
EVALUATION = "adversarial"
ATTACK_LABELS = {
    "fgsm": "FGSM (CE_τ)", "pgd_ce_tau": "PGD CE_τ", "pgd_ce_raw": "PGD CE raw",
    "pgd_margin": "PGD margin", "pgd_dlr": "PGD DLR", "apgd_ce": "APGD-CE", "apgd_dlr": "APGD-DLR",
    "apgd_t": "APGD-T", "square": "Square (black-box)",
}
DIAGNOSTICS = (
    ("grad_zero_share", "zero-gradient share CE_τ"), ("grad_zero_share_raw", "… raw CE"),
    ("masking_ce_gap", "CE_τ − margin/DLR gap"), ("masking_ce_raw_gap", "raw CE − margin/DLR gap"),
    ("masking_fgsm_gap", "PGD − FGSM gap"), ("masking_blackbox_gap", "only Square breaks"),
    ("masking_steps_drop", "drop with more steps"), ("masking_eps_large_acc", "robust at max ε"),
)


# -- pure plot functions ---------------------------------------------------------------------------
def plot_robust_vs_temperature(
    series: dict[str, dict[float, list[float]]], clean: dict[float, list[float]] | None = None,
) -> Figure:
    """Robust accuracy vs τ (log axis): one line per attack, mean over seeds with a ±1 sample
    s.d. band (``report.stats``).

    ``series``: label → {τ: values over seeds}; the label "worst case" is drawn thick and black.
    ``clean``: clean accuracy on the attacked sample, drawn dashed."""
    fig = Figure(figsize=(7.0, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    items = list(series.items()) + ([("clean (sample)", clean)] if clean else [])
    for label, by_tau in items:
        if not by_tau:
            continue
        taus = sorted(by_tau)
        stats = [mean_sd(by_tau[t]) for t in taus]
        mean = np.array([s.mean for s in stats])
        sd = np.array([s.band_sd for s in stats])
        style = {"color": "black", "linewidth": 2.5} if label == "worst case" else {}
        if label == "clean (sample)":
            style = {"color": "grey", "linestyle": "--"}
        (line,) = ax.plot(taus, mean, marker="o", markersize=3, label=label, **style)
        ax.fill_between(taus, mean - sd, mean + sd, color=line.get_color(), alpha=0.15)
    return finish_accuracy_vs_temperature(fig, ax, "accuracy under attack")


def plot_eps_sweep(curves: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Figure:
    """PGD(CE_τ) robust accuracy vs ε, one line per τ: {τ: (eps, mean, sd)}."""
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    cmap = _cmap(len(curves))
    for i, (tau, (eps, mean, sd)) in enumerate(sorted(curves.items())):
        ax.plot(eps, mean, marker="o", markersize=3, color=cmap[i], label=f"τ = {tau:g}")
        ax.fill_between(eps, mean - sd, mean + sd, color=cmap[i], alpha=0.12)
    ax.set_xlabel("ε (L∞)")
    ax.set_ylabel("robust accuracy, PGD CE_τ")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_logits_before_after(
    panels: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]],
) -> Figure:
    """Mean logits of a fixed sample before and after PGD, one panel per τ.

    ``panels``: (τ, clean logits (N, C), adversarial logits (N, C), labels (N,)). Classes are
    ordered per example: the true class first, then the others by their clean logit, so the bars
    show the true logit falling and a competitor rising — or nothing moving when the gradient
    is masked."""
    fig = Figure(figsize=(panel_width(len(panels), 3.2), 3.4))
    for i, (tau, clean, adv, labels) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        before, after = _rank_by_clean(clean, labels), _rank_by_clean(adv, labels, ref=clean)
        pos = np.arange(before.shape[1])
        ax.bar(pos - 0.2, before.mean(0), width=0.4, label="before", color="tab:blue")
        ax.bar(pos + 0.2, after.mean(0), width=0.4, label="after PGD", color="tab:red")
        ax.set_xticks(pos, ["y"] + [str(j) for j in range(1, len(pos))], fontsize=7)
        ax.set_title(f"τ = {tau:g}", fontsize=9)
        ax.set_xlabel("class (true, then rank)", fontsize=8)
        if i == 0:
            ax.set_ylabel("mean logit")
            ax.legend(fontsize=7)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _rank_by_clean(logits: np.ndarray, labels: np.ndarray, ref: np.ndarray | None = None):
    """(N, C) logits reordered per row: true class, then the others by ``ref`` (default: self)."""
    ref = logits if ref is None else ref
    n, c = logits.shape
    masked = ref.astype(np.float64).copy()
    masked[np.arange(n), labels] = -np.inf
    order = np.argsort(-masked, axis=1)[:, : c - 1]
    order = np.concatenate([labels[:, None], order], axis=1)
    return np.take_along_axis(logits, order, axis=1)


def _cmap(n: int):
    return tau_palette(n)  # the report's τ colours (visible on white)


# -- section ----------------------------------------------------------------------------------------
def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "1.0", "yes")
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def _attacks(rows: list[dict]) -> list[str]:
    found = {k[len("robust_acc_"):] for r in rows for k in r if k.startswith("robust_acc_")}
    found.discard("worst")
    return [a for a in ATTACK_LABELS if a in found] + sorted(found - set(ATTACK_LABELS))


def _mean_sd(values: list[float], runs: int | None = None) -> str:
    return format_mean_sd(values, fmt=".3f", sd_fmt=".3f", runs=runs)


def _member_arrays(run: RunData, rows: list[dict], key: str):
    """(row, array slice of its member) for every row whose group stored ``adversarial/key``."""
    for r in rows:
        arr = run.arrays(str(r["group"])).get(f"{EVALUATION}/{key}")
        if arr is not None:
            yield r, arr


def _eps_curves(run: RunData, rows: list[dict]) -> dict:
    by_tau: dict[float, list[np.ndarray]] = {}
    eps_of: dict[float, np.ndarray] = {}
    for r, acc in _member_arrays(run, rows, "eps_sweep_acc"):
        eps = run.arrays(str(r["group"]))[f"{EVALUATION}/eps_sweep_eps"]
        tau = float(r["temperature"])
        by_tau.setdefault(tau, []).append(acc[:, int(r["member"])])
        eps_of[tau] = eps
    return {
        t: (eps_of[t], *mean_sd_curves(np.stack(v))[:2])
        for t, v in by_tau.items() if len({a.shape for a in v}) == 1
    }


def _logit_panels(run: RunData, rows: list[dict], max_panels: int = 4) -> list:
    first: dict[float, tuple] = {}
    for r, clean in _member_arrays(run, rows, "logits_clean"):
        tau = float(r["temperature"])
        if tau in first:
            continue
        arrays, m = run.arrays(str(r["group"])), int(r["member"])
        adv = arrays.get(f"{EVALUATION}/logits_adv")
        labels = arrays.get(f"{EVALUATION}/labels")
        if adv is not None and labels is not None:
            first[tau] = (tau, clean[:, m], adv[:, m], labels.astype(np.int64))
    taus = sorted(first)
    if len(taus) > max_panels:
        picks = np.unique(np.round(np.linspace(0, len(taus) - 1, max_panels)).astype(int))
        taus = [taus[i] for i in picks]
    return [first[t] for t in taus]


def _info(run: RunData) -> dict:
    return next((e[EVALUATION] for e in run.evals.values() if EVALUATION in e), {})


def _settings_text(run: RunData) -> str:
    info = _info(run)
    if not info:
        return ""
    attacks = info.get("attacks", {})
    order = info.get("order", list(attacks))
    every = [ATTACK_LABELS.get(a, a) for a in order if not attacks.get(a, {}).get("survivors_only")]
    after = [ATTACK_LABELS.get(a, a) for a in order if attacks.get(a, {}).get("survivors_only")]
    text = (
        f"Suite **{info.get('suite', '?')}**, L∞ ε = {info.get('eps', float('nan')):.4g} "
        f"({info.get('eps_default', '')}), {info.get('n_examples', '?')} test images per member "
        f"(sweeps and logits on {info.get('diag_examples', '?')}), PGD α = "
        f"{info.get('alpha', float('nan')):.4g}, ε-sweep factors {info.get('eps_factors', [])}. "
        f"On every image: {', '.join(every) or '–'}"
        + (f"; then, only on the image–member pairs still robust: {', '.join(after)} (so these "
           "have no accuracy of their own; the table shows the worst case once each has run)"
           if after else "") + "."
    )
    if info.get("worst_is_upper_bound"):
        text += (" **This cheap suite (fixed-step PGD only) overstates robustness: its worst "
                 "case is an upper bound on robust accuracy, and no member is called robust on "
                 "its evidence** (verdict `unverified`); run the default suite "
                 "(`--eval.adversarial.suite=auto`) for a robust-accuracy estimate.")
    return text


def build(run: RunData) -> Section:
    """The adversarial section, or ``Section.not_run`` when the evaluation did not run."""
    if not run.evaluation_ran(EVALUATION):
        return Section.not_run(TITLE, "the adversarial evaluation (eval.adversarial) did not run.")
    rows = [r for r in run.ok_rows() if r.get("robust_acc_worst", "") != ""]
    if not rows:
        return Section.not_run(TITLE, "no trained member has adversarial results.")
    attacks = _attacks(rows)
    series = {ATTACK_LABELS.get(a, a): run.column_by_temperature(f"robust_acc_{a}", rows)
              for a in attacks}
    series["worst case"] = run.column_by_temperature("robust_acc_worst", rows)
    clean = run.column_by_temperature("clean_acc_adv_sample", rows)
    figures = [("Accuracy under each attack and in the per-example worst case vs training "
                f"temperature (mean over seeds; {BAND_NOTE}).",
                plot_robust_vs_temperature(series, clean))]
    curves = _eps_curves(run, rows)
    if curves:
        figures.append(("PGD (CE at τ) robust accuracy vs ε: an honest attack reaches ~0 at "
                        f"large ε (mean over seeds; {BAND_NOTE}).", plot_eps_sweep(curves)))
    shares = fooled_share(rows, {f"robust_acc_{a}": ATTACK_LABELS.get(a, a) for a in attacks})
    if shares:
        figures.append(("Share of the correctly classified sample inputs each attack fooled, per "
                        "τ (mean over seeds, error bar ±1 sample s.d., none where n = 1): a "
                        "masked member shows CE attacks fooling few inputs while margin/DLR/"
                        "Square fool many.",
                        fooled_share_bars(shares)))
    panels = _logit_panels(run, rows)
    if panels:
        figures.append(("Mean logits of a fixed test sample before and after PGD (CE at τ), "
                        "classes ordered true first, then by clean logit.",
                        plot_logits_before_after(panels)))

    taus = sorted(clean)
    runs = {t: len(clean[t]) for t in taus}
    # survivors-only attacks (early exit): the worst case once each has run
    stages = [a for a in _info(run).get("order", [])
              if any(f"worst_upto_{a}" in r for r in rows)]
    upto = {a: run.column_by_temperature(f"worst_upto_{a}", rows) for a in stages}
    acc_rows = [[f"{t:g}", runs[t], _mean_sd(clean.get(t, []), runs[t])]
                + [_mean_sd(series[ATTACK_LABELS.get(a, a)].get(t, []), runs[t]) for a in attacks]
                + [_mean_sd(upto[a].get(t, []), runs[t]) for a in stages]
                + [_mean_sd(series["worst case"].get(t, []), runs[t])] for t in taus]
    worst_label = ("worst case (upper bound)" if _info(run).get("worst_is_upper_bound")
                   else "worst case")
    acc_table = md_table(["τ", "runs", "clean"] + [ATTACK_LABELS.get(a, a) for a in attacks]
                         + [f"worst after {ATTACK_LABELS.get(a, a)}" for a in stages]
                         + [worst_label], acc_rows)
    diag_rows = []
    for t in taus:
        sel = [r for r in rows if float(r["temperature"]) == t]
        cells = [_mean_sd(run.column_by_temperature(c, sel).get(t, []), len(sel))
                 for c, _ in DIAGNOSTICS]
        flagged = sum(_truthy(r.get("masking_suspected", "")) for r in sel)
        diag_rows.append([f"{t:g}", len(sel)] + cells + [f"{flagged}/{len(sel)}"])
    diag_table = md_table(["τ", "runs"] + [label for _, label in DIAGNOSTICS] + ["masking suspected"],
                          diag_rows)
    verdict_rows = [
        [f"{float(r['temperature']):g}", r.get("seed", ""), r.get("group", ""), r.get("member", ""),
         r.get("clean_acc_adv_sample", ""), r.get("robust_acc_worst", ""),
         r.get("robust_verdict", ""), r.get("masking_reason", "") or "–"]
        for r in sorted(rows, key=lambda r: (float(r["temperature"]), str(r.get("seed", ""))))
    ]
    verdict_table = md_table(
        ["τ", "seed", "group", "member", "clean", "worst case", "verdict", "why (masking)"],
        verdict_rows,
    )
    n_masked = sum(_truthy(r.get("masking_suspected", "")) for r in rows)
    markdown = "\n\n".join(p for p in [
        _settings_text(run),
        "A member is only as robust as its worst case over all attacks (an example counts as "
        "robust only if every attack failed). A cold softmax can make the input gradient of "
        "cross-entropy vanish, so CE-based attacks stall and the member *looks* robust; margin "
        "and DLR losses and the gradient-free Square attack cannot be fooled that way. "
        "CE and margin/DLR attacks are compared at equal budget (PGD with PGD, APGD with "
        "APGD), so a longer attack is not mistaken for masking. "
        "Verdicts: **masked** — a diagnostic below fired, so CE-based numbers overstate "
        "robustness (trust the worst case); **robust** — worst-case accuracy keeps at least "
        "half of the clean accuracy; **unverified** — the same, but from the cheap suite, "
        "whose worst case is only an upper bound; **not robust** — otherwise.",
        f"Masking suspected for {n_masked} of {len(rows)} members.",
        "### Accuracy under attack\n\n" + acc_table + "\n\n" + SPREAD_NOTE,
        "### Gradient-masking diagnostics (mean ± s.d. over seeds)\n\n" + diag_table,
        "### Verdict per member\n\n" + verdict_table,
    ] if p)
    return Section(title=TITLE, markdown=markdown, figures=figures, anchor="adversarial")
