"""``--model python:...``: a user's plain nn.Module factory swept end to end with every
evaluation (clean, calibration, corruption, adversarial, gradients, logits, features, dynamics)
and the report; a bad model name fails in one line before anything is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tempcheck.cli import main

USER_MODELS = Path(__file__).parents[1] / "models" / "user_models.py"
FAST = ["--temperatures", "0.5,4", "--seeds", "0", "--epochs", "1", "--eval", "all",
        "model.options.width=4", "eval.corruption.n_images=16",
        "eval.corruption.corruptions=[gaussian_noise, fog]", "eval.adversarial.n_examples=16",
        "eval.features.tsne=false", "eval.dynamics.steps=5", "eval.dynamics.scan_refine=1",
        "eval.dynamics.scan_steps=5"]


@pytest.mark.slow
def test_user_factory_swept_with_every_evaluation(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["sweep", "--model", f"python:{USER_MODELS}:small_cnn", "--out", str(out),
                 *FAST])
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [float(r["temperature"]) for r in rows] == [0.5, 4.0]
    for col in ("test_acc", "test_ece", "ts_temperature", "corr_acc_mean", "robust_acc_worst"):
        assert all(r[col] not in ("", "nan") for r in rows), col
    info = json.loads((out / "groups" / "seed0" / "eval.json").read_text())
    assert {"clean", "calibration", "corruption", "adversarial", "gradients", "logits",
            "features"} <= set(info)
    assert info["gradients"]["check"] == "ok"  # the factory's last Linear is the bank's head
    assert (out / "dynamics.json").is_file()
    report = (out / "report.md").read_text()
    assert "small_cnn" in report.splitlines()[0]
    sections = {part.split("\n", 1)[0]: part for part in report.split("\n## ")[1:]}
    for title in ("Calibration", "Corruption robustness", "Adversarial robustness",
                  "Gradient balance", "Logits", "Feature geometry", "Early-learning"):
        found = [body for name, body in sections.items() if name.startswith(title)]
        assert found and "*Not run:*" not in found[0], title


def test_bad_python_model_is_one_line_error_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["sweep", "--model", f"python:{USER_MODELS}:DataDependent", "--out", str(out),
                 "--epochs", "1", "--seeds", "0", "--temperatures", "1", "--eval", "none"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: ") and "control flow on a tensor's value" in err
    assert not out.exists()
