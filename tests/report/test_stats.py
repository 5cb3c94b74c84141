"""The report's one mean ± s.d. convention (report/stats.py), and that every section uses it."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from tempcheck.report import section_calibration, section_distill
from tempcheck.report.build import ReportSectionError, build_report, build_sections
from tempcheck.report.rundata import RunData
from tempcheck.report.section_adversarial import plot_robust_vs_temperature
from tempcheck.report.stats import SPREAD_NOTE, format_mean_sd, mean_sd, mean_sd_curves

SEED_VALUES = (0.1, 0.2, 0.4)  # one value per seed, the same in every column
MEAN = 7 / 30
SD = math.sqrt(7 / 300)  # sqrt(Σ(x − x̄)² / (n − 1)) = sqrt((4 + 1 + 25)/900 / 2)
SD_POPULATION = math.sqrt(7 / 450)  # the ddof = 0 value the helper must not give


def test_closed_form_mean_and_sample_sd_of_three_seeds():
    s = mean_sd(SEED_VALUES)
    assert s.n == 3 and s.mean == pytest.approx(MEAN) and s.sd == pytest.approx(SD)
    assert s.sd == pytest.approx(np.std(SEED_VALUES, ddof=1))
    assert format_mean_sd(SEED_VALUES) == "0.2333 ± 0.15 (n = 3)"
    assert format_mean_sd(SEED_VALUES, runs=3) == "0.2333 ± 0.15"  # the row shows n
    assert format_mean_sd(SEED_VALUES, runs=4) == "0.2333 ± 0.15 (n = 3)"  # this cell lacks one
    assert format_mean_sd(SEED_VALUES, fmt=".2f", sd_fmt=".2f", scale=100, unit="%") == \
        "23.33 ± 15.28% (n = 3)"


def test_one_seed_has_no_spread_and_says_n_1():
    s = mean_sd([0.5])
    assert s.n == 1 and s.mean == 0.5 and math.isnan(s.sd) and s.band_sd == 0.0
    assert format_mean_sd([0.5]) == "0.5 (n = 1)"
    assert format_mean_sd([0.5], runs=1) == "0.5"  # the row's "runs" column already says 1
    assert "±" not in format_mean_sd([0.5], fmt=".2f", scale=100, unit="%")


def test_nan_values_are_dropped_and_nothing_is_a_dash():
    assert mean_sd([0.1, math.nan, 0.2, 0.4]) == mean_sd(SEED_VALUES)
    assert format_mean_sd([]) == format_mean_sd(None) == format_mean_sd([math.nan]) == "–"


def test_curves_pointwise_sample_sd_with_zero_band_where_one_run():
    runs = np.array([[0.1, 1.0], [0.2, math.nan], [0.4, math.nan]])
    mean, sd, n = mean_sd_curves(runs)
    assert np.allclose(mean, [MEAN, 1.0]) and np.allclose(sd, [SD, 0.0])
    assert n.tolist() == [3, 1]


def _band_half_widths(fig) -> list[float]:
    ax = fig.axes[0]
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    return [float(np.ptp(p.get_paths()[0].vertices[:, 1])) / 2 for p in polys]


@pytest.mark.parametrize("draw", [
    lambda by_tau: plot_robust_vs_temperature({"worst case": by_tau}),
    lambda by_tau: section_calibration.calibration_vs_temperature_figure({"ECE": by_tau}, {}),
    lambda by_tau: section_distill.distill_figure({"acc": {"students": by_tau}}, {}),
], ids=["adversarial", "calibration", "distill"])
def test_figure_bands_are_one_sample_sd(draw):
    fig = draw({1.0: list(SEED_VALUES), 10.0: list(SEED_VALUES)})
    widths = _band_half_widths(fig)
    assert widths and widths == pytest.approx([SD] * len(widths))


# -- every section: a run with three seeds, the same per-seed values in every numeric column ------
NUMERIC = [
    "test_acc", "val_acc", "test_nll", "test_ece", "test_brier", "test_ece_raw", "test_nll_raw",
    "test_ece_ts", "test_nll_ts", "test_ece_vs", "test_nll_vs", "ts_temperature",
    "ts_relative_temperature", "corr_acc_mean", "corr_acc_noise", "corr_acc_blur",
    "corr_acc_weather", "corr_acc_digital", "corr_mce", "robust_acc_pgd_ce_tau",
    "robust_acc_pgd_margin", "robust_acc_worst", "clean_acc_adv_sample", "grad_zero_share",
    "masking_ce_gap", "masking_fgsm_gap", "masking_steps_drop", "masking_eps_large_acc",
    "grad_q_entropy", "grad_eff_negatives", "grad_max_q", "grad_hardest_share",
    "grad_step_factor", "logit_norm_mean", "logit_margin_mean", "logit_margin_tau_mean",
    "softmax_entropy_mean", "feat_silhouette", "feat_within_between", "feat_probe_acc",
]
EVALUATIONS = ("calibration", "corruption", "adversarial", "gradients", "logits", "features")


def _run(tmp_path, seeds: int) -> RunData:
    rows, groups, distill = [], [], []
    for seed in range(seeds):
        members = []
        for m, tau in enumerate((0.5, 2.0)):
            row = {"group": f"seed{seed}", "member": float(m), "temperature": tau,
                   "seed": float(seed), "base_lr": 0.05, "status": "ok",
                   "masking_suspected": "False", "robust_verdict": "not robust"}
            row.update({c: SEED_VALUES[seed] for c in NUMERIC})
            rows.append(row)
            members.append({"temperature": tau, "seed": seed})
            distill.append({"role": "student", "member": float(m), "distill_temperature": tau,
                            "alpha": 0.1, "teacher_temperature": 1.0, "status": "ok",
                            **{c: SEED_VALUES[seed] for c in
                               ("test_acc", "test_nll", "test_ece", "agreement")}})
        groups.append({"name": f"seed{seed}", "members": members})
    evals = {g["name"]: {name: {} for name in EVALUATIONS} for g in groups}
    metrics = {g["name"]: [{"test_acc": [0.5, 0.6], "train_loss": [1.0, 1.0],
                            "logit_norm": [1.0, 2.0], "temperature": [0.5, 2.0]}]
               for g in groups}
    return RunData(root=tmp_path, sweep={"groups": groups, "evaluations": list(EVALUATIONS)},
                   results=rows, metrics=metrics, evals=evals, tables={"distill": distill})


def _spreads(markdown: str) -> list[tuple[float, bool]]:
    return [(float(x), pct == "%") for x, pct in re.findall(r"± ([0-9.]+)(%?)", markdown)]


def test_every_section_reports_the_sample_sd_of_three_seeds(tmp_path):
    sections = build_sections(_run(tmp_path, seeds=3), strict=True)
    spread_sections = [s for s in sections if s.ran and s.title not in (
        "Setup and provenance", "Accuracy, NLL and ECE against τ", "Learning curves",
        "Early-learning theory against measurement")]
    titles = {s.title for s in spread_sections}
    assert {"Summary", "Calibration", "Corruption robustness", "Adversarial robustness",
            "Gradient balance across negative classes", "Logits: norm, margin and entropy",
            "Feature geometry", "Distillation"} <= titles
    for s in spread_sections:
        spreads = _spreads(s.markdown)
        assert spreads, s.title
        for value, percent in spreads:
            expected = 100 * SD if percent else SD
            # printed to 2 significant digits or 3 decimals: within half a unit of the last one
            assert abs(value - expected) < 0.006 * (100 if percent else 1), (s.title, value)
            assert abs(value - (100 if percent else 1) * SD_POPULATION) > 0.01, s.title
    for s in spread_sections:
        assert SPREAD_NOTE in s.markdown, s.title  # the convention is said where it is used
        assert "(n = 3)" in s.markdown or "| 3 |" in s.markdown, s.title  # and n is shown


def test_one_seed_shows_no_spread_in_any_section(tmp_path):
    sections = build_sections(_run(tmp_path, seeds=1), strict=True)
    for s in sections:
        assert not re.search(r"± ?[0-9]", s.markdown), s.title
    summary = next(s for s in sections if s.title == "Summary")
    assert "0.1000 (n = 1)" in summary.markdown  # accuracies are fractions in the report


def test_strict_mode_raises_on_a_broken_section_and_default_mode_shows_it(tmp_path):
    run = _run(tmp_path, seeds=2)
    run.results[0]["temperature"] = "not a number"  # every section reading τ trips over it
    with pytest.raises(ReportSectionError, match="report section 'build_summary' failed"):
        build_sections(run, strict=True)
    shown = build_sections(run)
    assert any("*Section failed:*" in s.markdown for s in shown)


def test_strict_report_writes_nothing_when_a_section_fails(tmp_path):
    (tmp_path / "results.csv").write_text("temperature,status,test_acc\nabc,ok,0.5\n")
    with pytest.raises(ReportSectionError):
        build_report(tmp_path, strict=True)
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "report.md").exists()
    html, md = build_report(tmp_path)  # users still get a page
    assert "Section failed" in md.read_text()
