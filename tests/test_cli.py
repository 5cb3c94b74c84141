"""The command line: one-line errors with exit 2 for every user mistake; the happy path."""

from __future__ import annotations

import pytest

from tempcheck.cli import main

TINY = ["--epochs", "1", "--seeds", "0", "--eval", "clean", "--model.options.widths=[8,8,8]"]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # exactly one line, no traceback
    assert err[0].startswith("error: ")
    return err[0]


@pytest.mark.parametrize("temps", ["0", "-1", "nan", "inf", "1,0"])
def test_bad_temperature(temps, tmp_path, capsys):
    assert main(["sweep", "--temperatures", temps, "--out", str(tmp_path / "o"), *TINY]) == 2
    assert "temperature" in _error_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag,value,word", [("--model", "resnet9000", "model"),
                                             ("--dataset", "mnist-x", "dataset")])
def test_unknown_model_or_dataset(flag, value, word, tmp_path, capsys):
    assert main(["sweep", flag, value, "--out", str(tmp_path / "o"), *TINY]) == 2
    line = _error_line(capsys)
    assert word in line and value in line


def test_unknown_config_key_and_malformed_yaml(tmp_path, capsys):
    assert main(["sweep", "--train.lrr=0.1", "--out", str(tmp_path / "o"), *TINY]) == 2
    assert "train.lrr" in _error_line(capsys)
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {lr: 0.1\n")
    assert main(["sweep", "--config", str(bad), "--out", str(tmp_path / "o"), *TINY]) == 2
    assert "malformed YAML" in _error_line(capsys)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("train:\n  learning_rate: 0.1\n")
    assert main(["sweep", "--config", str(unknown), "--out", str(tmp_path / "o"), *TINY]) == 2
    assert "train.learning_rate" in _error_line(capsys)


def test_sweep_prints_table_and_protects_folder(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["sweep", "--temperatures", "0.5,2", "--out", str(out), *TINY]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "test acc" in printed and "report.html" in printed and "0.5" in printed
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["sweep", "--temperatures", "0.5,3", "--out", str(out), *TINY]) == 2
    assert "different sweep" in _error_line(capsys)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert main(["report", str(out)]) == 0
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "results.csv" in _error_line(capsys)


def test_list_and_unknown_evaluation(tmp_path, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cnn" in out and "digits" in out and "clean" in out
    assert main(["sweep", "--eval", "clean,bogus", "--out", str(tmp_path / "o"),
                 "--epochs", "1"]) == 2
    assert "bogus" in _error_line(capsys)


def test_betas_and_stray_argument(tmp_path, capsys):
    assert main(["sweep", "--betas", "0", "--out", str(tmp_path / "o"), *TINY]) == 2
    assert "temperature" in _error_line(capsys)
    assert main(["sweep", "stray", "--out", str(tmp_path / "o"), *TINY]) == 2
    _error_line(capsys)


def test_calibrate_command(tmp_path, capsys):
    import json

    import numpy as np

    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 10)) * 3
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(10, p=q) for q in p])
    np.savez(tmp_path / "l.npz", logits=(z * 2.0).astype("float32"), labels=y)
    out = tmp_path / "c.json"
    assert main(["calibrate", str(tmp_path / "l.npz"), "--json", str(out),
                 "--png", str(tmp_path / "r.png")]) == 0
    result = json.loads(out.read_text())
    assert result["temperature"] == pytest.approx(2.0, rel=0.1)
    assert result["ece_after"] < result["ece_before"]
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    np.save(tmp_path / "only.npy", z)
    assert main(["calibrate", str(tmp_path / "only.npy")]) == 2
    assert "labels" in _error_line(capsys)
    np.save(tmp_path / "y.npy", np.full(4000, 12))
    assert main(["calibrate", str(tmp_path / "only.npy"), "--labels", str(tmp_path / "y.npy")]) == 2
    assert "labels must lie in" in _error_line(capsys)


def test_corrupt_command_writes_cifar_c_layout(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "digits-c"
    assert main(["corrupt", "--corruptions", "gaussian_noise,fog", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fog.npy", "gaussian_noise.npy", "labels.npy"]
    fog = np.load(out / "fog.npy")
    labels = np.load(out / "labels.npy")
    assert fog.dtype == np.uint8 and fog.shape == (5 * 359, 8, 8, 1)
    assert labels.shape == (5 * 359,) and np.array_equal(labels[:359], labels[359:718])
    capsys.readouterr()  # progress lines of the successful run
    assert main(["corrupt", "--out", str(out)]) == 2  # not empty: refused, nothing touched
    assert "not empty" in _error_line(capsys)
    assert main(["corrupt", "--corruptions", "saturate", "--out", str(tmp_path / "s")]) == 2
    assert "colour" in _error_line(capsys)


def test_dynamics_command_linear_model_matches_theory(tmp_path, capsys):
    import json

    out = tmp_path / "dyn"
    assert main(["dynamics", "--model", "linear", "--n-examples", "32", "--steps", "30",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dynamics study" in printed and "report:" in printed
    info = json.loads((out / "dynamics.json").read_text())
    assert info["agreement"]["max_rel_loss_error"] < 0.01  # linearisation exact: curves agree
    fit = info["stability"]["fit"]
    assert abs(fit["slope"] + 2) < 0.1  # η_max ∝ β^-2 for the linear model
    assert "Early-learning" in (out / "report.md").read_text()
    assert main(["dynamics", "--model", "nonesuch", "--out", str(tmp_path / "d2")]) == 2
