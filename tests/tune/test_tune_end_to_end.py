"""tempcheck tune end to end on digits: outcome, exactness against the full sweep, resume, CLI."""

from __future__ import annotations

import json
import math

import pytest

from tempcheck.cli import main
from tempcheck.config import load_config
from tempcheck.progress import Progress
from tempcheck.report.build import build_report
from tempcheck.sweep.run import run_sweep
from tempcheck.tune import TuneOptions, run_tune
from tempcheck.tune.replay import replay
from tempcheck.tune.rungs import Rung

ARGS = ["sweep.temperatures=[0.3,1,3,10]", "train.epochs=4", "sweep.seeds=[0]", "eval.run=[none]",
        "model.options.widths=[4,8,16]"]


def _config():
    return load_config("configs/digits_cnn.yaml", ARGS)


def test_tune_in_a_sweep_folder_matches_the_sweep_exactly_and_joins_its_report(tmp_path):
    config = _config()
    run_sweep(config, tmp_path)
    out = run_tune(config, tmp_path, TuneOptions(budget=0.5))
    assert set(out) >= {"temperature", "objective", "value", "member_epochs",
                        "full_sweep_member_epochs", "full_sweep", "seeds"}
    assert out["full_sweep_member_epochs"] == 4 * 4
    assert out["member_epochs"] == out["planned_member_epochs"] or \
        out["member_epochs"] < out["planned_member_epochs"]  # protection may not be used
    assert out["member_epochs"] <= 0.5 * 16
    seed = out["seeds"][0]
    # every (epoch, member) the tune trained has the very validation accuracy the sweep logged:
    # pruned banks continue exactly where the full bank is
    records = [json.loads(line) for line in
               (tmp_path / "groups" / "seed0" / "metrics.jsonl").read_text().splitlines()]
    compared = 0
    for e, row in enumerate(seed["curves"]["val_acc"]):
        for i, v in enumerate(row):
            if v is not None:
                assert v == pytest.approx(records[e]["val_acc"][i], abs=1e-6), (e, i)
                compared += 1
    assert compared == out["member_epochs"]
    assert seed["temperatures"][seed["chosen"]] == out["temperature"]
    dropped = {d["member"] for d in seed["dropped"]}
    assert seed["chosen"] not in dropped and len(dropped) == 3
    full = out["full_sweep"]
    assert math.isclose(full["regret"], full["best_test_acc"] - full["chosen_test_acc"])
    assert json.loads((tmp_path / "tune" / "tune.json").read_text())["temperature"] == \
        out["temperature"]
    build_report(tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "Choosing τ automatically" in html and "Section failed" not in html
    # the replay of the same plan on the sweep's logged curves makes the same choice
    plan = [Rung(**r) for r in out["plan"]]
    rep = replay(tmp_path, plan, rules=("catchup",), tie=1 / 179)
    assert rep["seeds"][0]["rules"]["catchup"]["temperature"] == out["temperature"]


class _CrashAfter(Progress):
    def __init__(self, lines: int):
        self.left = lines

    def log(self, message: str) -> None:
        self.left -= 1
        if self.left == 0:
            raise RuntimeError("killed")


def test_an_interrupted_tune_resumes_to_the_same_outcome(tmp_path):
    config = _config()
    whole = run_tune(config, tmp_path / "whole", TuneOptions(budget=0.5))
    with pytest.raises(RuntimeError, match="killed"):
        run_tune(config, tmp_path / "cut", TuneOptions(budget=0.5), progress=_CrashAfter(2))
    assert not (tmp_path / "cut" / "tune.json").exists()
    resumed = run_tune(config, tmp_path / "cut", TuneOptions(budget=0.5), resume=True)
    assert resumed["temperature"] == whole["temperature"]
    assert resumed["member_epochs"] == whole["member_epochs"]
    assert resumed["seeds"][0]["curves"]["val_acc"] == whole["seeds"][0]["curves"]["val_acc"]


def test_tune_command_writes_json_and_its_own_report(tmp_path, capsys):
    out, js = tmp_path / "t", tmp_path / "tune.json"
    argv = ["tune", "--config", "configs/digits_cnn.yaml", "--epochs", "4", "--temperatures",
            "0.3,1,3,10", "--seeds", "0", "--budget", "0.5", "--eval", "none",
            "--model.options.widths=[4,8,16]", "--out", str(out), "--json", str(js)]
    assert main(argv) == 0
    outcome = json.loads(js.read_text())
    assert outcome["full_sweep_member_epochs"] == 16 and outcome["member_epochs"] <= 8
    assert "chosen τ" in capsys.readouterr().out
    html = (out / "report.html").read_text()
    assert "Choosing τ automatically" in html and "<img" in html


@pytest.mark.parametrize("extra,message", [
    (["--budget", "0.01"], "below one rung"),
    (["--objective", "accuracy"], "unknown tune objective"),
    (["--objective", "weighted"], "needs --weights"),
    (["--objective", "weighted", "--weights", "val_acc=x"], "must be a number"),
    (["--rule", "greedy"], "unknown tune rule"),
    (["--rungs", "3:2,2:1"], "bad tune rungs"),
    (["--temperatures", ""], "no temperatures"),
    (["--temperatures", "1"], "at least 2 temperatures"),
    (["--json", "."], "is a folder"),
    (["--sample", "0"], "sample must be"),
])
def test_bad_tune_input_is_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "t"
    argv = ["tune", "--config", "configs/digits_cnn.yaml", "--epochs", "4", "--temperatures",
            "0.3,1,3,10", "--out", str(out), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not out.exists()


def test_seed_status_reads_each_running_seeds_last_epoch(tmp_path):
    from tempcheck.tune.search import seed_status

    (tmp_path / "seed0").mkdir()
    (tmp_path / "seed0" / "status.json").write_text(
        '{"epoch": 3, "epochs": 8, "members": 4, "member_epochs": 21}')
    (tmp_path / "seed1").mkdir()  # started, nothing saved yet
    (tmp_path / "seed2").mkdir()
    (tmp_path / "seed2" / "status.json").write_text('{"epoch": 3')  # torn: starting
    # seed3 has no folder on this machine: left out
    assert seed_status(tmp_path, [0, 1, 2, 3]) == (
        "seed0 epoch 3/8 (4 members), seed1 starting, seed2 starting")
    assert seed_status(tmp_path, [3]) == ""
