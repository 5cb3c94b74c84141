"""Sweeps beyond fixed image temperatures: text data, learnable and scheduled τ, distillation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_text import make_imdb

from tempcheck.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _rows(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_imdb_gru_recipe_on_generated_aclimdb(tmp_path, capsys):
    acl = make_imdb(tmp_path, n_train=40, n_test=20)
    out = tmp_path / "run"
    code = main(["sweep", "--config", str(CONFIGS / "imdb_gru.yaml"), "--data-dir", str(acl),
                 "--out", str(out), "--epochs", "1", "--temperatures", "0.5,2", "--seeds", "0",
                 "--data.options.max_len=32", "--model.options.hidden_size=16",
                 "--model.options.embed_dim=16"])
    assert code == 0, capsys.readouterr().err
    rows = _rows(out / "results.csv")
    assert [r["dataset"] for r in rows] == ["imdb", "imdb"] and rows[0]["model"] == "gru"
    vocab = (out / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab[:2] == ["<pad>", "<unk>"] and "wonderful" in vocab
    info = json.loads((out / "groups" / "seed0" / "eval.json").read_text())
    assert "needs images" in info["corruption"]["skipped"]
    assert "needs images" in info["adversarial"]["skipped"]
    assert (out / "report.html").is_file()


@pytest.mark.parametrize("mode", ["learnable", "scheduled"])
def test_learnable_and_scheduled_temperatures_are_logged(mode, tmp_path, capsys):
    out = tmp_path / mode
    code = main(["sweep", "--temperatures", "0.5,2", "--seeds", "0", "--epochs", "3",
                 "--eval", "clean", "--model.options.widths=[8,8,8]", "--out", str(out),
                 f"--train.temperature_mode={mode}", "--train.temperature_end_ratio=4"])
    assert code == 0, capsys.readouterr().err
    records = [json.loads(line) for line in
               (out / "groups" / "seed0" / "metrics.jsonl").read_text().splitlines()]
    trajectory = [r["temperature"] for r in records]
    rows = _rows(out / "results.csv")
    final = [float(r["final_temperature"]) for r in rows]
    assert final == pytest.approx(trajectory[-1])
    if mode == "scheduled":
        assert final == pytest.approx([2.0, 8.0])  # τ → 4τ at the end of training
        assert trajectory[0][0] < trajectory[1][0] < trajectory[2][0]
    else:
        assert trajectory[0] != trajectory[-1]  # learned: τ moved
    assert "Temperature during training" in (out / "report.md").read_text()


def test_unknown_temperature_mode_is_a_clear_error(tmp_path, capsys):
    assert main(["sweep", "--train.temperature_mode=wobbly", "--epochs", "1",
                 "--out", str(tmp_path / "o")]) == 2
    assert "temperature_mode" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_distill_command_end_to_end(tmp_path, capsys):
    teacher = tmp_path / "teacher"
    assert main(["sweep", "--temperatures", "1,3", "--seeds", "0", "--epochs", "2",
                 "--eval", "clean", "--model.options.widths=[8,8,8]", "--out", str(teacher)]) == 0
    out = tmp_path / "student"
    assert main(["distill", "--teacher", str(teacher), "--teacher-temperature", "3",
                 "--temperatures", "1,4", "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "student" in printed and "baseline" in printed and "teacher" in printed
    rows = _rows(out / "distill.csv")
    assert sorted(r["role"] for r in rows) == ["baseline", "student", "student", "teacher"]
    assert "Distillation" in (out / "report.md").read_text()
    assert main(["distill", "--teacher", str(tmp_path / "nope"), "--out",
                 str(tmp_path / "s2")]) == 2


@pytest.mark.parametrize("method", ["pgd", "trades"])
def test_adversarial_training_runs_end_to_end(method, tmp_path, capsys):
    out = tmp_path / method
    code = main(["sweep", "--temperatures", "1,5", "--seeds", "0", "--epochs", "1",
                 "--eval", "clean", "--model.options.widths=[8,8,8]", "--adv-train", method,
                 "--train.adv_options.steps=2", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    rows = _rows(out / "results.csv")
    assert [r["status"] for r in rows] != [] and all(r["test_acc"] for r in rows)
    cfg = json.loads((out / "sweep.json").read_text())["config"]["train"]
    assert cfg["adv_train"] == method


def test_bad_adversarial_training_options_fail_before_training(tmp_path, capsys):
    assert main(["sweep", "--adv-train", "pgd", "--train.adv_options.epsilon=0.1",
                 "--epochs", "1", "--out", str(tmp_path / "o")]) == 2
    assert "adv_options.epsilon" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_text_report_says_why_image_evaluations_were_skipped(tmp_path, capsys):
    acl = make_imdb(tmp_path, n_train=12, n_test=6)
    out = tmp_path / "run"
    assert main(["sweep", "--config", str(CONFIGS / "imdb_gru_fast.yaml"), "--data-dir", str(acl),
                 "--out", str(out), "--epochs", "1", "--temperatures", "1", "--seeds", "0",
                 "--eval", "clean,corruption,adversarial", "--data.options.max_len=16",
                 "--data.options.train_limit=24", "--data.options.test_limit=12"]) == 0, \
        capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert report.count("*Not run:* skipped: corruption needs images") == 1
    assert "*Not run:* skipped: adversarial needs images" in report
