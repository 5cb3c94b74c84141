"""Every member's test and validation logits are saved in the run folder, and
`tempcheck calibrate` on a run folder member reproduces the sweep's own temperature scaling."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tempcheck.cli import main
from tempcheck.config import load_config
from tempcheck.registry import load_dataset
from tempcheck.sweep.run import run_sweep


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("logits") / "run"
    run_sweep(load_config(None, [
        "model.name=mlp", "model.options.hidden=[16]", "train.epochs=2",
        "sweep.temperatures=[0.5, 4.0]", "sweep.seeds=[0, 1]", "eval.run=[clean, calibration]"]),
        out)
    return out


def _rows(run):
    with open(run / "results.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_each_member_has_its_test_and_validation_logits(run):
    data = load_dataset("digits")
    for r in _rows(run):
        path = run / "groups" / r["group"] / "logits" / f"member-{r['member']}.npz"
        with np.load(path, allow_pickle=False) as npz:
            z, y = npz["logits"], npz["labels"]
            assert z.shape == (len(data.test), data.num_classes) and z.dtype == np.float32
            assert npz["val_logits"].shape == (len(data.val), data.num_classes)
            assert np.array_equal(y, data.test.y.numpy())
            assert np.array_equal(npz["val_labels"], data.val.y.numpy())
            assert float(npz["temperature"]) == float(r["temperature"])
            assert int(npz["seed"]) == int(r["seed"])
        # the saved logits are the ones the sweep scored: same accuracy, to the example
        # (results.csv holds the float32 mean: 1e-6)
        assert (z.argmax(1) == y).mean() == pytest.approx(float(r["test_acc"]), abs=1e-6)


def test_calibrate_on_a_run_folder_member_matches_the_sweep(run, tmp_path, capsys):
    row = next(r for r in _rows(run) if float(r["temperature"]) == 4.0 and r["seed"] == "1")
    out = tmp_path / "calib.json"
    assert main(["calibrate", str(run), "--temperature", "4", "--member-seed", "1",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["fit_on"] == "val"
    # fitted on the raw validation logits, as the sweep's calibration evaluation fits them
    assert result["temperature"] == pytest.approx(float(row["ts_temperature"]), rel=1e-4)
    assert "member-" in capsys.readouterr().out


def test_calibrate_needs_one_member(run, capsys):
    assert main(["calibrate", str(run), "--temperature", "4"]) == 2  # two seeds match
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: 2 members") and "τ=4/seed 1" in err and "\n" not in err
    assert main(["calibrate", str(run), "--temperature", "7", "--member-seed", "0"]) == 2
