"""The Fashion-MNIST study end to end on a tiny generated set in the real IDX layout: the
shipped recipe (configs/fashion_cnn.yaml) from the command line with every evaluation, made
CPU-test-sized by overrides; then scripts/study_table.py turns the run folder into the README's
table."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
from helpers_idx import write_family

from tempcheck.cli import main

ROOT = Path(__file__).resolve().parents[2]

RECIPE = ROOT / "configs" / "fashion_cnn.yaml"
TINY = [
    "--epochs", "2", "--temperatures", "0.5,4", "--seeds", "0,1", "--device", "cpu",
    "--model.options.widths=[4,8,8,8]", "--train.batch_size=50", "--data.options.val_size=50",
    "--eval.corruption.n_images=20", "--eval.corruption.severities=[1,5]",
    "--eval.adversarial.n_examples=16", "--eval.adversarial.diag_examples=8",
    "--eval.adversarial.steps=3", "--eval.adversarial.more_steps=5",
    "--eval.adversarial.apgd_steps=4", "--eval.adversarial.square_queries=10",
    "--eval.gradients.n_examples=40", "--eval.features.points=40",
    "--eval.dynamics.n_examples=8", "--eval.dynamics.steps=3",
    "--eval.dynamics.scan_steps=5", "--eval.dynamics.scan_refine=2",
]


def _study_table():
    spec = importlib.util.spec_from_file_location("study_table", ROOT / "scripts" / "study_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    base = tmp_path_factory.mktemp("fashion")
    write_family(base / "data" / "fashion-mnist", n_train=600, n_test=100, gz=True)
    out = base / "run"
    code = main(["sweep", "--config", str(RECIPE), "--data-dir", str(base / "data"),
                 "--out", str(out), *TINY])
    assert code == 0
    return out


@pytest.mark.slow
def test_recipe_runs_every_evaluation(study):
    with open(study / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {r["dataset"] for r in rows} == {"fashion_mnist"}
    assert {r["status"] for r in rows} <= {"ok", "stalled"}
    # the auto suite's every stage ran (Square last, on the pairs still robust) and backs a
    # verdict (not the cheap suite's upper bound)
    for key in ("test_acc", "test_ece_ts", "corr_acc_mean", "robust_acc_worst",
                "robust_acc_pgd_ce_tau", "worst_upto_apgd_t", "worst_upto_square",
                "robust_verdict"):
        assert all(r[key] != "" for r in rows), key
    assert all(r["worst_case_upper_bound"] == "false" for r in rows)
    sweep = json.loads((study / "sweep.json").read_text())
    assert sweep["config"]["data"]["name"] == "fashion_mnist"
    assert set(sweep["evaluations"]) >= {"clean", "calibration", "corruption", "adversarial"}
    info = json.loads((study / "groups" / "seed0" / "eval.json").read_text())
    # the recipe's radius and suite, not the generic 28 px default (8/255)
    assert info["adversarial"]["eps"] == pytest.approx(0.1)
    assert info["adversarial"]["suite"] == "auto"
    assert (study / "report.html").is_file() and (study / "dynamics.json").is_file()
    # the data as read: sizes, class names and folder, recorded and shown in the report
    assert sweep["data"]["sizes"] == {"train": 550, "val": 50, "test": 100}
    assert sweep["data"]["class_names"][0] == "T-shirt/top"
    assert sweep["data"]["source"].endswith("fashion-mnist")
    line = "550 / 50 / 100 train / val / test, 10 classes (T-shirt/top, Trouser, Pullover, "
    assert line in (study / "report.md").read_text()
    assert "Ankle boot" in (study / "report.html").read_text()


@pytest.mark.slow
def test_study_table_from_the_run_folder(study, capsys):
    table = _study_table()
    assert table.main([str(study)]) == 0
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| τ | test acc (mean ± sd, n = 2) | NLL | ECE | ECE after TS")
    assert [line.split(" | ")[0] for line in lines[1:]] == ["| 0.5", "| 4"]
    with open(study / "results.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if float(r["temperature"]) == 0.5]
    accs = [100 * float(r["test_acc"]) for r in rows]
    mean = sum(accs) / 2
    sd = abs(accs[0] - accs[1]) / 2 ** 0.5  # the sample s.d. of two values
    assert f"{mean:.2f} ± {sd:.2f}%" in lines[1]
    verdicts = sorted(r["robust_verdict"] for r in rows)
    assert ", ".join(f"{v} × {verdicts.count(v)}" for v in sorted(set(verdicts))) in lines[1]
    assert "best mean test accuracy at τ = " in text and "fashion_mnist" in text


def test_study_table_mean_sd_and_missing_folder(tmp_path, capsys):
    table = _study_table()
    assert table.cell([0.5, 0.7], percent=True, runs=2) == "60.00 ± 14.14%"
    assert table.cell([0.5], percent=True, runs=2) == "50.00% (n = 1)"  # a seed is missing
    assert table.cell([0.25], percent=False) == "0.2500 (n = 1)"
    assert table.cell([], percent=True) == "–"
    assert table.main([str(tmp_path)]) == 2
    assert "results.csv" in capsys.readouterr().err
