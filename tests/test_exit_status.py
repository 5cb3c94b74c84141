"""Exit status tells the truth: a sweep in which a group failed for good exits 1 after writing
everything else and naming the failed members; diverged members are results (exit 0)."""

from __future__ import annotations

import csv

import tempcheck.sweep.local as local
from tempcheck.app import EXIT_FAILED, EXIT_OK
from tempcheck.cli import main

TINY = ["--epochs", "1", "--eval", "clean", "--model.options.widths=[8,8,8]", "--no-report"]


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_group_that_fails_for_good_makes_the_sweep_exit_1(tmp_path, capsys, monkeypatch):
    real = local.run_group

    def crash_seed1(root, config, group, *args, **kwargs):
        if group.name == "seed1":
            raise RuntimeError("simulated worker crash")
        return real(root, config, group, *args, **kwargs)

    monkeypatch.setattr(local, "run_group", crash_seed1)
    out = tmp_path / "run"
    code = main(["sweep", "--temperatures", "0.5,2", "--seeds", "0,1", "--out", str(out),
                 "--sweep.retries=0", *TINY])
    captured = capsys.readouterr()
    assert code == EXIT_FAILED == 1
    rows = _rows(out / "results.csv")  # written anyway, the good group included
    assert all(r["status"] in ("ok", "stalled") for r in rows if r["group"] == "seed0")
    assert [r["status"] for r in rows if r["group"] == "seed1"] == ["failed", "failed"]
    assert "2 member(s) failed for good" in captured.err
    assert "group seed1 member 0 (τ=0.5, seed 1): RuntimeError: simulated worker crash" \
        in captured.err
    assert (out / "groups" / "seed1" / "error-1.txt").is_file()


def test_diverged_members_are_results_not_errors(tmp_path, capsys):
    # η = 0.05·τ^-3: the τ = 0.01 member gets lr 5e4 and blows up; the sweep still succeeds
    out = tmp_path / "run"
    code = main(["sweep", "--temperatures", "0.01,1", "--seeds", "0", "--out", str(out),
                 "--lr-exponent", "-3", *TINY, "--epochs", "2"])
    captured = capsys.readouterr()
    assert code == EXIT_OK == 0
    assert {r["status"] for r in _rows(out / "results.csv")} <= {"diverged", "ok", "stalled"}
    assert "diverged" in {r["status"] for r in _rows(out / "results.csv")}
    assert "did not train normally" in captured.out and captured.err.count("error") == 0
