"""`tempcheck compare` end to end: two tiny sweeps (plain, label smoothing), aligned by τ, the
differences and the seed-spread verdict recomputed from their results.csv; bad input."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from tempcheck.cli import main
from tempcheck.config import load_config
from tempcheck.report.compare import Cell, difference
from tempcheck.sweep.run import run_sweep

BASE = ["model.name=mlp", "model.options.hidden=[16]", "train.epochs=2", "eval.run=[clean]",
        "sweep.seeds=[0, 1]"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    plain, smooth = root / "plain", root / "smooth"
    run_sweep(load_config(None, [*BASE, "sweep.temperatures=[1.0, 10.0]"]), plain)
    run_sweep(load_config(None, [*BASE, "sweep.temperatures=[1.0, 100.0]",
                                 "train.label_smoothing=0.1"]), smooth)
    return plain, smooth


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _by_tau(path, column):
    out: dict[float, list[float]] = {}
    for r in _csv(path):
        out.setdefault(float(r["temperature"]), []).append(float(r[column]))
    return out


def test_compare_aligns_by_tau_and_judges_differences_against_the_spread(two_runs, tmp_path,
                                                                          capsys):
    plain, smooth = two_runs
    out = tmp_path / "cmp"
    assert main(["compare", str(plain), str(smooth), "--labels", "plain,smooth",
                 "--out", str(out)]) == 0
    rows = _csv(out / "compare.csv")
    acc = [r for r in rows if r["metric"] == "test_acc"]
    # the union of both grids, every run on every τ (absent ones with n = 0)
    assert sorted({float(r["temperature"]) for r in acc}) == [1.0, 10.0, 100.0]
    a, b = _by_tau(plain / "results.csv", "test_acc"), _by_tau(smooth / "results.csv", "test_acc")
    at1 = {r["run"]: r for r in acc if float(r["temperature"]) == 1.0}
    assert float(at1["plain"]["mean"]) == pytest.approx(np.mean(a[1.0]))
    assert float(at1["smooth"]["sd"]) == pytest.approx(np.std(b[1.0], ddof=1))
    assert int(at1["smooth"]["n"]) == 2
    delta = np.mean(b[1.0]) - np.mean(a[1.0])
    assert float(at1["smooth"]["delta_vs_reference"]) == pytest.approx(delta)
    spread = np.std(a[1.0], ddof=1) + np.std(b[1.0], ddof=1)
    assert at1["smooth"]["exceeds_seed_spread"] == ("yes" if abs(delta) > spread else "no")
    at100 = {r["run"]: r for r in acc if float(r["temperature"]) == 100.0}
    assert int(at100["plain"]["n"]) == 0 and at100["smooth"]["exceeds_seed_spread"] == "–"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "# tempcheck comparison — plain vs smooth" in md
    assert "| `train.label_smoothing` | 0.0 | 0.1 |" in md  # what differs, said
    assert "| 100 | – |" in md  # τ = 100 only in the second run
    assert (out / "report.html").is_file() and list(out.glob("figures/*.svg"))
    assert list(out.glob("tables/*.tex")) and "compare.csv" in capsys.readouterr().out


def test_difference_needs_a_spread_on_both_sides():
    assert difference(Cell(0.5, 0.01, 3), Cell(0.6, 0.02, 3)) == (pytest.approx(0.1), "yes")
    assert difference(Cell(0.5, 0.05, 3), Cell(0.55, 0.02, 3))[1] == "no"
    assert difference(Cell(0.5, math.nan, 1), Cell(0.9, 0.01, 3))[1] == "n = 1"
    assert difference(None, Cell(0.9, 0.01, 3))[1] == "–"


def test_compare_bad_input_is_one_line_and_writes_nothing(two_runs, tmp_path, capsys):
    plain, _ = two_runs
    out = tmp_path / "cmp"
    assert main(["compare", str(plain), "--out", str(out)]) == 2
    assert main(["compare", str(plain), str(tmp_path), "--out", str(out)]) == 2
    assert main(["compare", str(plain), str(plain), "--labels", "a", "--out", str(out)]) == 2
    assert not out.exists()
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["compare", str(plain), str(plain), "--out", str(full)]) == 2
    assert sorted(p.name for p in full.iterdir()) == ["keep.txt"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
