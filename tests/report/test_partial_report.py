"""A partial report of a sweep still running: built from the groups that finished."""

from __future__ import annotations

from tempcheck.cli import main
from tempcheck.config import load_config
from tempcheck.sweep.run import run_sweep


def test_partial_report_from_the_finished_groups(tmp_path, capsys):
    out = tmp_path / "run"
    run_sweep(load_config(None, [
        "model.name=mlp", "model.options.hidden=[16]", "train.epochs=2", "eval.run=[clean]",
        "sweep.temperatures=[0.5, 4.0]", "sweep.seeds=[0, 1]"]), out)
    groups = sorted(p for p in (out / "groups").iterdir())
    assert len(groups) == 2  # one bank per seed
    # as while the sweep runs: no results.csv yet, the second group unfinished
    (out / "results.csv").unlink()
    (groups[1] / "done.json").unlink()
    assert main(["report", str(out)]) == 0
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.splitlines()[0].endswith("(partial: 1 of 2 groups finished)")
    summary = md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    body = [line for line in summary.splitlines() if line.startswith("| 0.5 ") or
            line.startswith("| 4 ")]
    # only the finished group's members: one seed per τ, no spread
    assert len(body) == 2 and all("(n = 1)" in line and "±" not in line for line in body)
    assert "## Partial report" in md
    (groups[0] / "done.json").unlink()  # nothing finished: nothing to report
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
