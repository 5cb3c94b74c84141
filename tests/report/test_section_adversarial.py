"""The adversarial report section, built from a run folder in the real on-disk format."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from tempcheck.report.rundata import RunData
from tempcheck.report.section_adversarial import (
    _rank_by_clean,
    build,
    plot_eps_sweep,
    plot_logits_before_after,
    plot_robust_vs_temperature,
)

TAUS = (0.1, 1.0, 10.0)
ATTACKS = ("fgsm", "pgd_ce_tau", "pgd_ce_raw", "pgd_margin", "pgd_dlr")


def _write_run(root, with_eval: bool = True, info_extra=None, row_extra=None):
    """Two seeds (groups) × three temperatures; τ = 0.1 is masked in seed 0 only."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in (0, 1):
        group = f"g{seed}"
        gdir = root / "groups" / group
        gdir.mkdir(parents=True)
        for m, tau in enumerate(TAUS):
            masked = tau == 0.1 and seed == 0
            row = {"group": group, "member": m, "dataset": "digits", "model": "cnn",
                   "temperature": tau, "seed": seed, "status": "ok", "test_acc": 0.97}
            for a in ATTACKS:
                row[f"robust_acc_{a}"] = 0.95 if masked and "ce" in a else 0.3 + 0.01 * m
            row.update(robust_acc_worst=0.25, clean_acc_adv_sample=0.97,
                       grad_zero_share=0.9 if masked else 0.0, masking_ce_gap=0.6 if masked else 0,
                       masking_fgsm_gap=0.0, masking_blackbox_gap=float("nan"),
                       masking_steps_drop=0.0, masking_eps_large_acc=0.9 if masked else 0.0,
                       masking_suspected=masked,
                       masking_reason="zero input gradients on 90% of inputs" if masked else "",
                       robust_verdict="masked" if masked else "not robust")
            row.update(row_extra or {})
            rows.append(row)
        if with_eval:
            (gdir / "eval.json").write_text(json.dumps({"adversarial": {
                "suite": "quick", "eps": 0.1, "eps_default": "digits", "n_examples": 200,
                "diag_examples": 8, "alpha": 0.025, "eps_factors": [0.5, 1, 2, 4],
                **(info_extra or {})}}))
            np.savez(gdir / "arrays.npz", **{
                "adversarial/logits_clean": rng.normal(size=(8, 3, 10)).astype(np.float32),
                "adversarial/logits_adv": rng.normal(size=(8, 3, 10)).astype(np.float32),
                "adversarial/labels": rng.integers(0, 10, 8),
                "adversarial/eps_sweep_eps": np.array([0.05, 0.1, 0.2, 0.4], np.float32),
                "adversarial/eps_sweep_acc": np.linspace(1, 0, 12).reshape(4, 3),
            })
    with open(root / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return RunData.load(root)


def test_section_from_a_run_folder(tmp_path):
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    section = build(_write_run(tmp_path))
    assert section.ran and section.title == "Adversarial robustness"
    assert len(section.figures) == 4
    captions = [c for c, _ in section.figures]
    # the share each attack fooled sits right before the logits before/after PGD
    assert captions[2].startswith("Share of the correctly classified") and \
        captions[3].startswith("Mean logits")
    assert all(isinstance(fig, Figure) for _, fig in section.figures)
    assert plt.get_fignums() == open_before  # no pyplot state
    md = section.markdown
    assert "Masking suspected for 1 of 6 members." in md
    assert "zero input gradients on 90% of inputs" in md
    assert md.count("| masked |") == 1 and md.count("| not robust |") == 5
    assert "PGD CE_τ" in md and "worst case" in md and "1/2" in md
    assert "ε = 0.1" in md


def test_section_not_run_without_the_evaluation(tmp_path):
    section = build(_write_run(tmp_path, with_eval=False))
    assert not section.ran and "did not run" in section.markdown


def test_plots_are_pure_figures():
    series = {"PGD CE_τ": {0.1: [0.9, 0.8], 1.0: [0.3]}, "worst case": {0.1: [0.2], 1.0: [0.1]}}
    assert isinstance(plot_robust_vs_temperature(series, {0.1: [1.0], 1.0: [0.9]}), Figure)
    eps = np.array([0.05, 0.1])
    assert isinstance(plot_eps_sweep({1.0: (eps, np.array([0.8, 0.3]), np.zeros(2))}), Figure)
    z = np.zeros((4, 5))
    fig = plot_logits_before_after([(1.0, z, z + 1, np.array([0, 1, 2, 3]))])
    assert len(fig.axes) == 1


def test_logits_are_ordered_true_class_first_then_by_clean_logit():
    clean = np.array([[0.0, 5.0, 1.0, 3.0]])
    labels = np.array([2])
    assert _rank_by_clean(clean, labels).tolist() == [[1.0, 5.0, 3.0, 0.0]]
    adv = np.array([[9.0, 8.0, 7.0, 6.0]])
    assert _rank_by_clean(adv, labels, ref=clean).tolist() == [[7.0, 8.0, 6.0, 9.0]]


@pytest.mark.parametrize("value,expected", [("True", 1), ("False", 0), (1.0, 1), ("", 0)])
def test_masking_flags_read_back_from_csv(tmp_path, value, expected):
    run = _write_run(tmp_path)
    for r in run.results:
        r["masking_suspected"] = value
    assert f"Masking suspected for {expected * 6} of 6 members." in build(run).markdown


def test_a_cheap_suite_is_shown_as_an_upper_bound(tmp_path):
    md = build(_write_run(tmp_path, info_extra={"worst_is_upper_bound": True})).markdown
    assert "upper bound" in md and "worst case (upper bound)" in md and "unverified" in md


def test_survivors_only_attacks_show_the_worst_case_after_each(tmp_path):
    order = list(ATTACKS) + ["apgd_ce", "apgd_t", "square"]
    attacks = {a: {"survivors_only": a in ("apgd_ce", "apgd_t", "square")} for a in order}
    run = _write_run(tmp_path, info_extra={"suite": "auto", "order": order, "attacks": attacks},
                     row_extra={"worst_upto_apgd_ce": 0.28, "worst_upto_apgd_t": 0.26,
                                "worst_upto_square": 0.25})
    md = build(run).markdown
    assert "still robust: APGD-CE, APGD-T, Square (black-box)" in md
    assert "worst after APGD-T" in md and "0.260" in md
    assert "worst case (upper bound)" not in md and "overstates robustness: its worst" not in md
