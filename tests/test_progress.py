"""Progress that helps: ETA on plain lines, best/worst member instead of a mean, one line per
member after training, steady lines through the evaluations."""

from __future__ import annotations

import io

from tempcheck.cli import main
from tempcheck.progress import (
    ConsoleProgress,
    _LineTask,
    format_seconds,
    member_extremes,
    member_lines,
)


def test_plain_lines_carry_elapsed_time_and_eta():
    now = [100.0]
    stream = io.StringIO()
    task = _LineTask("eval", 4, stream, interval=0.0, clock=lambda: now[0])
    now[0] = 110.0
    task.update(1)
    now[0] = 120.0
    task.update(1, done="clean")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[eval] 1/4 [10s elapsed, ETA 30s]"
    assert lines[1] == "[eval] 2/4 done=clean [20s elapsed, ETA 20s]"
    assert format_seconds(75) == "1m15s" and format_seconds(3700) == "1h01m"


def test_best_and_worst_member_instead_of_a_mean():
    out = member_extremes([0.9, 0.1, 0.5, float("nan")], [1.0, 100.0, 10.0, 0.1],
                          [True, True, False, True], name="acc")
    # member 2 is frozen (diverged), member 3 has no value: neither can be best or worst
    assert out == {"best_acc": "0.9 (τ=1)", "worst_acc": "0.1 (τ=100)", "stopped": "2"}
    assert member_extremes([0.3], [2.0]) == {"best_acc": "0.3 (τ=2)"}
    assert member_lines([(0.5, 0), (4.0, 0)], [0.99, None], [0.97, 0.5], ["ok", "stalled"]) == [
        "  τ=0.5 seed 0: train acc 0.99, test acc 0.97 (ok)",
        "  τ=4 seed 0: train acc –, test acc 0.5 (stalled)"]


def test_a_sweep_reports_members_and_evaluations(tmp_path, capsys):
    assert main(["sweep", "--out", str(tmp_path / "run"), "--no-report", "--eval",
                 "clean,calibration", "--model.name=mlp", "--model.options.hidden=[16]",
                 "--train.epochs=2", "--sweep.temperatures=[0.5, 4.0]", "--sweep.seeds=[0]"]) == 0
    err = capsys.readouterr().err
    assert "  τ=0.5 seed 0: train acc " in err and "  τ=4 seed 0: train acc " in err
    assert "best_train_acc=" in err and "worst_train_acc=" in err and "(τ=" in err
    assert "[evaluations] 2/2 done=calibration [" in err and "ETA 0s]" in err
    assert isinstance(ConsoleProgress(io.StringIO()).task("x", 1), _LineTask)
