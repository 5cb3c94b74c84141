"""`--resume --eval X` on a finished sweep: X runs from the saved checkpoints (no retraining),
the results equal a sweep that ran X from the start, and the original start time is kept."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest

from tempcheck.cli import main
from tempcheck.config import load_config
from tempcheck.sweep.run import run_sweep

BASE = ["model.name=mlp", "model.options.hidden=[16]", "train.epochs=2",
        "sweep.temperatures=[0.5, 4.0]", "sweep.seeds=[0]"]


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resume_with_a_new_evaluation_runs_it_from_the_checkpoints(tmp_path, capsys):
    out = tmp_path / "run"
    run_sweep(load_config(None, [*BASE, "eval.run=[clean]"]), out)
    gdir = next((out / "groups").iterdir())
    before = json.loads((out / "sweep.json").read_text())
    ckpt, metrics = _digest(gdir / "checkpoint.pt"), _digest(gdir / "metrics.jsonl")
    first = _csv(out / "results.csv")
    assert all(r["ts_temperature"] == "" for r in first)  # calibration did not run

    rc = main(["sweep", "--resume", "--eval", "clean,calibration", "--out", str(out),
               "--no-report", *[f"--{o}" for o in BASE]])
    assert rc == 0, capsys.readouterr().err
    after = json.loads((out / "sweep.json").read_text())
    assert after["started"] == before["started"]  # the sweep's original start
    assert len(after["sessions"]) == 2 and after["evaluations"] == ["clean", "calibration"]
    assert after["wall_seconds"] == pytest.approx(sum(s["wall_seconds"] for s in after["sessions"]))
    versions = after["versions"]  # provenance of the sweep, refreshed by each session
    assert {"scikit_learn", "matplotlib", "torch_threads", "deterministic_algorithms",
            "git_dirty"} <= set(versions)
    # nothing retrained: same weights, same training curves
    assert _digest(gdir / "checkpoint.pt") == ckpt and _digest(gdir / "metrics.jsonl") == metrics
    info = json.loads((gdir / "eval.json").read_text())
    assert set(info) == {"clean", "calibration"}
    done = json.loads((gdir / "done.json").read_text())
    assert done["evaluations_added"][0]["evaluations"] == ["calibration"]
    second = _csv(out / "results.csv")
    assert [r["test_acc"] for r in second] == [r["test_acc"] for r in first]  # kept as measured

    # the added calibration equals that of a sweep that ran it from the start
    fresh = tmp_path / "fresh"
    run_sweep(load_config(None, [*BASE, "eval.run=[clean, calibration]"]), fresh)
    for a, b in zip(second, _csv(fresh / "results.csv")):
        assert float(a["ts_temperature"]) == pytest.approx(float(b["ts_temperature"]), rel=1e-6)
        assert float(a["test_ece_ts"]) == pytest.approx(float(b["test_ece_ts"]), abs=1e-7)

    # resuming again with nothing new changes nothing in the groups
    eval_json = _digest(gdir / "eval.json")
    assert main(["sweep", "--resume", "--eval", "clean,calibration", "--out", str(out),
                 "--no-report", *[f"--{o}" for o in BASE]]) == 0
    assert _digest(gdir / "eval.json") == eval_json
    assert len(json.loads((out / "sweep.json").read_text())["sessions"]) == 3
