"""A small sweep end to end: plan, run folder, results.csv, resume, folder protection."""

from __future__ import annotations

import csv
import json

import pytest

from tempcheck.app import run_sweep as run_sweep_and_report
from tempcheck.config import load_config
from tempcheck.errors import RunFolderError
from tempcheck.sweep.plan import plan_groups
from tempcheck.sweep.run import run_sweep
from tempcheck.sweep.store import SweepLock

FAST = ["train.epochs=2", "model.options.widths=[8, 8, 8]", "eval.run=[clean]",
        "sweep.temperatures=[0.5, 2.0]", "sweep.seeds=[0, 1]"]

DESIGN_COLUMNS = ["group", "member", "dataset", "model", "temperature", "seed", "lr", "epochs",
                  "status", "test_acc", "test_nll", "test_ece", "test_brier", "ts_temperature",
                  "test_ece_ts", "test_nll_ts", "corr_acc_mean", "robust_acc_worst",
                  "masking_suspected", "train_seconds"]


def test_plan_groups_one_bank_per_seed_and_max_bank():
    cfg = load_config(None, ["sweep.temperatures=[0.1, 1, 10]", "sweep.seeds=[0, 1]",
                             "sweep.lrs=[0.01, 0.1]", "train.lr_temperature_exponent=1"])
    groups = plan_groups(cfg)
    assert [g.name for g in groups] == ["seed0", "seed1"]
    assert len(groups[0].members) == 6
    m = groups[0].members[5]
    assert (m.temperature, m.base_lr) == (10.0, 0.1) and m.lr == pytest.approx(1.0)
    split = plan_groups(cfg.replace(sweep=cfg.sweep.__class__(**{**cfg.sweep.__dict__,
                                                                 "max_bank": 4})))
    assert [len(g.members) for g in split] == [4, 2, 4, 2]


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "run"
    rows, root = run_sweep_and_report(load_config(None, FAST), out)
    return rows, root


def test_run_folder_layout_and_results(finished_sweep):
    rows, root = finished_sweep
    for name in ("sweep.json", "results.csv", "report.html", "report.md"):
        assert (root / name).is_file(), name
    for g in ("seed0", "seed1"):
        for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "eval.json",
                     "arrays.npz", "done.json"):
            assert (root / "groups" / g / name).is_file(), name
        lines = (root / "groups" / g / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 2 and len(json.loads(lines[0])["test_acc"]) == 2
    with open(root / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4
    assert list(table[0])[: len(DESIGN_COLUMNS)] == DESIGN_COLUMNS
    assert {r["status"] for r in table} <= {"ok", "stalled"}
    assert all(0.0 <= float(r["test_acc"]) <= 1.0 for r in table)
    sweep = json.loads((root / "sweep.json").read_text())
    assert sweep["versions"]["torch"] and sweep["grid"]["temperatures"] == [0.5, 2.0]
    assert sweep["bank_plan"]["requested"] == "auto" and sweep["bank_plan"]["rule"]
    html = (root / "report.html").read_text()
    assert "data:image/png;base64," in html and "Summary" in html


def test_resume_skips_finished_groups_and_changes_nothing(finished_sweep):
    rows, root = finished_sweep
    before = (root / "results.csv").read_text()
    mtime = (root / "groups" / "seed0" / "checkpoint.pt").stat().st_mtime_ns
    rows2, _ = run_sweep(load_config(None, FAST), root, resume=True)
    assert (root / "groups" / "seed0" / "checkpoint.pt").stat().st_mtime_ns == mtime
    assert [r["test_acc"] for r in rows2] == [r["test_acc"] for r in rows]
    assert (root / "results.csv").read_text() == before


def test_folder_with_other_sweep_is_refused_and_untouched(finished_sweep):
    _, root = finished_sweep
    snapshot = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(RunFolderError, match="different sweep"):
        run_sweep(load_config(None, FAST + ["train.lr=0.3"]), root)
    with pytest.raises(RunFolderError, match="--resume"):
        run_sweep(load_config(None, FAST), root)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == snapshot


def test_second_writer_is_locked_out(tmp_path):
    with SweepLock(tmp_path):
        with pytest.raises(RunFolderError, match="in use"):
            SweepLock(tmp_path).acquire()
    SweepLock(tmp_path).acquire().release()  # free again once released


def test_resume_continues_an_unfinished_group_from_its_checkpoint(tmp_path):
    cfg = load_config(None, ["train.epochs=4", "train.checkpoint_every=2",
                             "model.options.widths=[8, 8, 8]", "eval.run=[clean]",
                             "sweep.temperatures=[1.0, 3.0]", "sweep.seeds=[0]"])
    full_rows, _ = run_sweep(cfg, tmp_path / "full")
    # simulate a crash after epoch 2: keep the epoch-2 checkpoint, drop everything after it
    from tempcheck.recipe import build_model, load_data
    from tempcheck.sweep import store
    from tempcheck.train.loop import FitOptions, fit

    crashed = tmp_path / "crashed"
    run_sweep(cfg.replace(train=cfg.train.__class__(**{**cfg.train.__dict__, "epochs": 4})),
              crashed)
    gdir = crashed / "groups" / "seed0"
    data = load_data(cfg)
    group = plan_groups(cfg)[0]
    model = build_model(cfg, data, [m.seed for m in group.members])
    snap = {}
    fit(model, data, temperatures=[1.0, 3.0], lrs=[m.lr for m in group.members],
        options=FitOptions(epochs=4, batch_size=cfg.train.batch_size, weight_decay=5e-4),
        seed=0, on_epoch_end=lambda e, s: snap.setdefault(e, s()))
    store.atomic_torch_save(gdir / "checkpoint.pt", snap[1])
    (gdir / "done.json").unlink()
    resumed_rows, _ = run_sweep(cfg, crashed, resume=True)
    for a, b in zip(full_rows, resumed_rows):
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1e-9)
        assert a["test_nll"] == pytest.approx(b["test_nll"], rel=1e-5)


def test_diverged_member_is_reported_with_its_epoch_and_the_sweep_goes_on(tmp_path):
    # η = 0.05·τ^-3: the τ = 0.01 member gets lr 5e4 and blows up; τ = 1 trains normally
    cfg = load_config(None, ["train.epochs=2", "model.options.widths=[8, 8, 8]",
                             "eval.run=[clean, calibration]", "sweep.temperatures=[0.01, 1.0]",
                             "sweep.seeds=[0]", "train.lr_temperature_exponent=-3"])
    rows, root = run_sweep_and_report(cfg, tmp_path / "run")
    by_tau = {r["temperature"]: r for r in rows}
    assert by_tau[0.01]["status"] == "diverged" and by_tau[0.01]["diverged_epoch"] == 0
    assert by_tau[1.0]["status"] == "ok" and by_tau[1.0]["test_acc"] > 0.2  # chance is 0.1
    with open(root / "results.csv") as fh:
        table = {float(r["temperature"]): r for r in csv.DictReader(fh)}
    assert table[0.01]["status"] == "diverged" and table[0.01]["diverged_epoch"] == "0"
    report = (root / "report.md").read_text()
    assert "**diverged** at epoch 0" in report
