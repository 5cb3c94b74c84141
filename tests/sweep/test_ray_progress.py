"""The Ray driver's progress line: each running group's epoch from its own files (Ray tasks log
nothing to the driver), without Ray itself."""

from __future__ import annotations

from tempcheck.sweep.plan import Group
from tempcheck.sweep.ray import running_status


def test_running_status_reads_each_groups_epoch_from_its_files(tmp_path):
    groups = [Group(name, 0, ()) for name in ("seed0", "seed1", "seed2", "seed3")]
    (tmp_path / "groups" / "seed0").mkdir(parents=True)
    (tmp_path / "groups" / "seed0" / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": 1}\n\n')
    (tmp_path / "groups" / "seed1").mkdir()
    (tmp_path / "groups" / "seed1" / "metrics.jsonl").write_text('{"epoch": 0}\n')
    (tmp_path / "groups" / "seed1" / "done.json").write_text("{}")
    (tmp_path / "groups" / "seed2").mkdir()
    # seed3 has no folder here (a worker on a machine without a shared disk): left out
    assert running_status(tmp_path, groups, epochs=8) == (
        "seed0 epoch 2/8, seed1 evaluating, seed2 starting")
    assert running_status(tmp_path, groups[3:], epochs=8) == ""
