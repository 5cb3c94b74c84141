"""The CIFAR-10 fast recipe runs end to end from the CLI on a folder in the real CIFAR format
(generated pickles, protocol 2, bytes keys), with results.csv and report."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers_cifar import write_cifar10

from tempcheck.cli import main

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "cifar10_resnet18_fast.yaml"


@pytest.mark.slow
def test_cifar10_resnet18_fast_recipe_on_generated_folder(tmp_path, capsys):
    write_cifar10(tmp_path / "data", per_batch=40, n_test=50)
    out = tmp_path / "run"
    # the recipe as shipped, made CPU-sized: 1 epoch, 2 temperatures, resnet18 at width 4
    code = main(["sweep", "--config", str(RECIPE), "--data-dir", str(tmp_path / "data"),
                 "--out", str(out), "--epochs", "1", "--temperatures", "0.5,5",
                 "--model.options.width=4", "--train.batch_size=64", "--eval", "clean",
                 "--device", "cpu"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["dataset"] for r in rows] == ["cifar10", "cifar10"]
    assert [r["model"] for r in rows] == ["resnet18", "resnet18"]
    assert all(r["test_acc"] != "" for r in rows)
    assert (out / "report.html").is_file() and "report.html" in printed.out
