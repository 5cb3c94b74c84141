"""Trackers end to end with the real libraries: a sweep logs every member per epoch to
TensorBoard (event files read back) and to an MLflow file store; off by default."""

from __future__ import annotations

import json

import pytest

from tempcheck.cli import main
from tempcheck.config import load_config
from tempcheck.sweep.run import run_sweep

BASE = ["model.name=mlp", "model.options.hidden=[16]", "train.epochs=3",
        "sweep.temperatures=[0.5, 4.0]", "sweep.seeds=[0]", "eval.run=[clean]"]


def _metrics(out):
    gdir = next((out / "groups").iterdir())
    records = [json.loads(line) for line in (gdir / "metrics.jsonl").read_text().splitlines()]
    return gdir.name, records


def test_tensorboard_event_files_hold_every_member_per_epoch(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    run_sweep(load_config(None, [*BASE, "sweep.trackers=[tensorboard]"]), out)
    group, records = _metrics(out)
    for k, (tau, label) in enumerate([(0.5, "m0-tau0.5-seed0"), (4.0, "m1-tau4-seed0")]):
        acc = EventAccumulator(str(out / "tensorboard" / group / label))
        acc.Reload()
        assert {"train_loss", "train_acc", "test_acc", "lr"} <= set(acc.Tags()["scalars"])
        events = acc.Scalars("train_loss")
        assert [e.step for e in events] == [1, 2, 3]
        assert [e.value for e in events] == pytest.approx(
            [r["train_loss"][k] for r in records], rel=1e-6)
        temps = [e.value for e in acc.Scalars("temperature")]
        assert temps == pytest.approx([tau] * 3)


def test_mlflow_file_store_has_one_run_per_member(tmp_path):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    from mlflow.tracking import MlflowClient

    out = tmp_path / "run"
    assert main(["sweep", "--tracker", "mlflow", "--out", str(out), "--no-report",
                 *[f"--{o}" for o in BASE]]) == 0
    group, records = _metrics(out)
    client = MlflowClient(tracking_uri=(out / "mlruns").resolve().as_uri())
    exp = client.get_experiment_by_name("run")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {f"{group}/m0-tau0.5-seed0", f"{group}/m1-tau4-seed0"}
    for k, name in enumerate(sorted(runs)):
        run = runs[name]
        assert float(run.data.params["temperature"]) == [0.5, 4.0][k]
        assert run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "test_acc")
        assert sorted((m.step, m.value) for m in history) == [
            (e + 1, pytest.approx(r["test_acc"][k])) for e, r in enumerate(records)]


def test_trackers_are_off_by_default_and_unknown_ones_fail_first(tmp_path, capsys):
    out = tmp_path / "run"
    run_sweep(load_config(None, BASE), out)
    assert not (out / "tensorboard").exists() and not (out / "mlruns").exists()
    bad = tmp_path / "bad"
    assert main(["sweep", "--tracker", "wandb", "--out", str(bad),
                 *[f"--{o}" for o in BASE]]) == 2
    err = capsys.readouterr().err.strip()
    # refused when the config is validated, before anything is written
    assert err.startswith("error: sweep.trackers='wandb' is not allowed") and "tensorboard" in err
    assert "\n" not in err and not bad.exists()
