"""Core report pieces: pure plots, the Markdown→HTML converter, the summary table."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from tempcheck.report.base import Section
from tempcheck.report.html import markdown_to_html, render_html
from tempcheck.report.plots import curves_by_temperature, figure_png, metric_vs_temperature
from tempcheck.report.rundata import RunData
from tempcheck.report.section_core import build_summary, format_summary_table, summary_rows


def test_metric_vs_temperature_plots_means_on_a_log_axis():
    fig = metric_vs_temperature({"test": {0.1: [0.9, 0.8], 1.0: [0.95], 10.0: [0.5, 0.7]}},
                                ylabel="accuracy")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    x, y = ax.lines[0].get_data()
    assert list(x) == [0.1, 1.0, 10.0] and np.allclose(y, [0.85, 0.95, 0.6])
    assert figure_png(fig)[:4] == b"\x89PNG"


def test_curves_by_temperature_average_over_seeds_with_ragged_curves():
    fig = curves_by_temperature({1.0: [[1.0, 0.5, 0.25], [0.5, 0.25]], 10.0: [[1.0, 1.0]]},
                                ylabel="loss")
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].lines}
    assert np.allclose(lines["τ=1"], [0.75, 0.375, 0.25])  # third epoch from one seed only
    assert np.allclose(lines["τ=10"], [1.0, 1.0])


def test_markdown_subset_renders_tables_lists_and_escapes():
    md = "| a | b |\n|---|---|\n| 1 | <x> |\n\n- **bold** and `code`\n- *it*\n\ntext & more"
    html = markdown_to_html(md)
    assert "<table>" in html and "<td>&lt;x&gt;</td>" in html
    assert "<li><strong>bold</strong> and <code>code</code></li>" in html
    assert "<em>it</em>" in html and "text &amp; more" in html
    page = render_html("T", [Section("S", md), Section.not_run("N", "why")], {})
    assert "(not run)" in page and "class='notrun'" in page and "<script" not in page


def test_summary_excludes_failed_members_from_means_and_names_them(tmp_path):
    run = RunData(root=tmp_path, results=[
        {"temperature": 1.0, "base_lr": 0.05, "seed": 0.0, "status": "ok", "test_acc": 0.9,
         "test_nll": 0.3, "test_ece": 0.02},
        {"temperature": 1.0, "base_lr": 0.05, "seed": 1.0, "status": "ok", "test_acc": 0.8,
         "test_nll": 0.5, "test_ece": 0.04},
        {"temperature": 0.01, "base_lr": 0.05, "seed": 0.0, "status": "diverged",
         "diverged_epoch": 3.0, "test_acc": math.nan},
    ])
    rows = summary_rows(run)
    one = next(r for r in rows if r["temperature"] == 1.0)
    assert math.isclose(one["acc_mean"], 0.85) and math.isclose(one["acc_std"], 0.0707, rel_tol=1e-3)
    text = format_summary_table(rows, markdown=False)
    assert "85.00 ± 7.07%" in text and "diverged×1" in text
    assert "**diverged** at epoch 3\n" in build_summary(run).markdown + "\n"


def test_report_writes_vector_figures_tables_and_intended_widths(tmp_path):
    """Every figure as PNG and SVG, every table as CSV and LaTeX, each <img> at its width."""
    import csv as _csv
    import re

    from tempcheck.report.build import build_report
    from tempcheck.report.plots import PNG_DPI

    cols = ["group", "member", "temperature", "seed", "status", "test_acc", "test_nll",
            "test_ece", "val_acc"]
    with open(tmp_path / "results.csv", "w", newline="", encoding="utf-8") as fh:
        writer = _csv.writer(fh)
        writer.writerow(cols)
        for k, (tau, seed) in enumerate([(0.1, 0), (0.1, 1), (10.0, 0), (10.0, 1)]):
            writer.writerow(["g", k, tau, seed, "ok", 0.9 - 0.01 * k, 0.3, 0.02, 0.88])
    html_path, md_path = build_report(tmp_path)
    pngs = sorted(tmp_path.glob("figures/*.png"))
    assert len(pngs) == 3  # accuracy, NLL and ECE against τ
    for png in pngs:
        svg = png.with_suffix(".svg").read_text(encoding="utf-8")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    summary_csv = next(tmp_path.glob("tables/*-summary-0.csv"))
    rows = list(_csv.reader(summary_csv.open(encoding="utf-8")))
    assert rows[0][0] == "τ" and rows[0][1].startswith("test acc (mean ± s.d.")
    assert [r[0] for r in rows[1:]] == ["0.1", "10"]
    tex = summary_csv.with_suffix(".tex").read_text(encoding="utf-8")
    assert r"\begin{tabular}" in tex and r"$\tau$" in tex
    page = html_path.read_text(encoding="utf-8")
    widths = [int(w) for w in re.findall(r"data-intended-width='(\d+)'", page)]
    assert widths == [round(5.2 * 96)] * 3  # metric_vs_temperature is 5.2 in wide
    assert "style='width:499px'" in page and "class='narrow'" in page
    md = md_path.read_text(encoding="utf-8")
    assert md.count(".svg)") == 3
    # the PNG carries 1.5× the CSS pixels (sharp on high-density screens)
    assert abs(int.from_bytes(pngs[0].read_bytes()[16:20], "big") - 5.2 * PNG_DPI) <= 1
