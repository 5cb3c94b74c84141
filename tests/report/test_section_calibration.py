"""Report section "Calibration", built from a run folder written from real evaluation output."""

from __future__ import annotations

import csv
import json

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from tempcheck import metrics
from tempcheck.data.base import DatasetSplits, Split
from tempcheck.eval.base import EvalContext
from tempcheck.eval.calibration import run as run_calibration
from tempcheck.report.rundata import RunData
from tempcheck.report.section_calibration import (
    build,
    calibration_vs_temperature_figure,
    fitted_temperature_figure,
    reliability_figure,
    reliability_grid,
)

matplotlib.use("Agg")


def _group_result(taus, seed, diverged=()):
    """Calibration result of a fake bank: member k's logits are τ_k · 1.5 · calibrated logits."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(1200, 5, generator=g) * 2
    y = torch.multinomial(z.softmax(-1), 1, generator=g).squeeze(1)
    bank = torch.stack([z * 1.5 * t for t in taus], 1)
    for k in diverged:
        bank[:, k] = float("nan")
    val, test = Split(torch.zeros(600, 1), y[:600]), Split(torch.zeros(600, 1), y[600:])
    data = DatasetSplits("fake", val, val, test, 5, 1, 1, (0.0,), (1.0,))
    ctx = EvalContext(model=torch.nn.Identity(), data=data, temperatures=torch.tensor(taus),
                      device=torch.device("cpu"), options={"vector_scaling": False},
                      cache={"logits/val": bank[:600], "logits/test": bank[600:]})
    return run_calibration(ctx)


def write_run(root, groups):
    """Lay out a run folder the way the sweep does: results.csv, eval.json, arrays.npz."""
    rows = []
    for name, taus, seed, diverged in groups:
        result = _group_result(taus, seed, diverged)
        gdir = root / "groups" / name
        gdir.mkdir(parents=True)
        (gdir / "eval.json").write_text(json.dumps({"calibration": result.info}))
        np.savez(gdir / "arrays.npz",
                 **{f"calibration/{k}": v for k, v in result.arrays.items()})
        for k, tau in enumerate(taus):
            row = {"group": name, "member": k, "temperature": tau, "seed": seed,
                   "status": "diverged" if k in diverged else "ok"}
            row.update({c: v[k] for c, v in result.columns.items()})
            rows.append(row)
    with open(root / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return RunData.load(root)


def test_section_from_a_run_folder(tmp_path):
    run = write_run(tmp_path, [("g0", [0.1, 1.0, 10.0], 0, ()), ("g1", [0.1, 1.0, 10.0], 1, ()),
                               ("g2", [0.3, 3.0], 2, (1,))])
    section = build(run)
    assert section.ran and section.title == "Calibration"
    assert len(section.figures) == 3
    assert all(isinstance(fig, Figure) for _, fig in section.figures)
    md = section.markdown
    assert md.count("\n| ") == 5  # header + one row per τ: 0.1, 0.3, 1, 10 (3 is diverged)
    assert "| 0.1 | 2 |" in md and "| 0.3 | 1 |" in md and "| 3 |" not in md
    assert "±" in md and "1 member(s) skipped" in md
    # reliability grid: lowest, closest to 1 and highest τ; two rows (at τ, after scaling)
    grid = section.figures[2][1]
    titles = [ax.get_title() for ax in grid.axes]
    assert titles == ["τ = 0.1: at τ", "τ = 1: at τ", "τ = 10: at τ",
                      "τ = 0.1: scaled", "τ = 1: scaled", "τ = 10: scaled"]
    # the fitted-T plot shows the mean fitted T per τ: close to 1.5 τ here
    line = section.figures[1][1].axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata() / line.get_xdata(), 1.5, rtol=0.15)


def test_not_run_and_nothing_fitted(tmp_path):
    (tmp_path / "results.csv").write_text("group,member,temperature,status\ng,0,1.0,ok\n")
    section = build(RunData.load(tmp_path))
    assert not section.ran and "did not run" in section.markdown
    other = tmp_path / "all_diverged"
    other.mkdir()
    section = build(write_run(other, [("g0", [1.0, 2.0], 0, (0, 1))]))
    assert section.ran and section.figures == [] and "No trained member" in section.markdown


def test_bound_hits_are_reported(tmp_path):
    run = write_run(tmp_path, [("g0", [1.0], 0, ())])
    info = run.evals["g0"]["calibration"]["members"][0]
    info.update(bound_hit="lower", temperature=0.01)
    assert "ended on a bound" in build(run).markdown


def _bins(scale: float, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(800, 4, generator=g, dtype=torch.float64)
    y = torch.multinomial(z.softmax(-1), 1, generator=g).squeeze(1)
    return metrics.reliability_bins(z * scale, y, 10)


def test_plot_functions_are_pure():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    single = reliability_figure(_bins(3.0), _bins(1.0), title="x")
    assert len(single.axes) == 2 and single.axes[0].get_title() == "before scaling"
    assert len(reliability_figure(_bins(3.0)).axes) == 1
    grid = reliability_grid([("a", _bins(2.0), None), ("b", _bins(0.5), None)])
    assert len(grid.axes) == 2
    series = {"raw": {0.1: [0.2, 0.3], 1.0: [0.1]}, "scaled": {0.1: [0.02], 1.0: [0.01]}}
    fig = calibration_vs_temperature_figure(series, series)
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "log"]
    line = fig.axes[0].lines[0]
    assert line.get_ydata().tolist() == pytest.approx([0.25, 0.1])
    assert isinstance(fitted_temperature_figure({0.5: [0.6], 2.0: [2.2, 2.4]}), Figure)
    assert plt.get_fignums() == before  # nothing registered with pyplot
