"""``tempcheck evaluate`` / ``tempcheck.evaluate_model``: any trained model, test-time T.

End to end: a member exported as TorchScript is evaluated at three test-time temperatures with
every logits-only evaluation and the report. Closed forms: accuracy does not depend on T; at T
equal to the member's training τ its NLL and ECE are the run's own; temperature scaling is
fitted on the raw logits, so its fitted T is the same for every row.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import tempcheck
from tempcheck.cli import main
from tempcheck.config import load_config
from tempcheck.data.base import as_float
from tempcheck.errors import ConfigError, ModelError
from tempcheck.external import evaluate_model
from tempcheck.registry import load_dataset
from tempcheck.softmax import tempered_cross_entropy
from tempcheck.sweep.run import run_sweep

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TorchScript in 2.13
FAST = ["eval.corruption.n_images=16", "eval.corruption.corruptions=[gaussian_noise, fog]",
        "eval.adversarial.n_examples=16"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("trained")
    cfg = load_config(None, ["train.epochs=3", "sweep.temperatures=[4.0]", "sweep.seeds=[0]",
                             "eval.run=[clean]", "model.options.widths=[8, 8, 8]"])
    _, run = run_sweep(cfg, root / "run", report=False)
    assert main(["export", str(run), "--temperature", "4", "--out", str(root / "m.pt")]) == 0
    return run, root / "m.pt"


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


@pytest.mark.slow
def test_torchscript_model_evaluated_at_three_test_temperatures(exported, tmp_path, capsys):
    run, model_file = exported
    out = tmp_path / "eval"
    code = main(["evaluate", "--model", str(model_file), "--dataset", "digits",
                 "--temperatures", "0.5,1,4", "--out", str(out), *FAST])
    assert code == 0, capsys.readouterr().err
    rows = _rows(out / "results.csv")
    trained = _rows(run / "results.csv")[0]
    assert [float(r["temperature"]) for r in rows] == [0.5, 1.0, 4.0]
    assert {float(r["training_temperature"]) for r in rows} == {4.0}
    # T rescales confidence only: every row has the run's accuracy
    assert {r["test_acc"] for r in rows} == {rows[0]["test_acc"]}
    assert float(rows[0]["test_acc"]) == pytest.approx(float(trained["test_acc"]), abs=1e-12)
    # at T = training τ the member's own predictive distribution: the run's NLL and ECE
    at_tau = rows[2]
    assert float(at_tau["test_nll"]) == pytest.approx(float(trained["test_nll"]), rel=1e-5)
    assert float(at_tau["test_ece"]) == pytest.approx(float(trained["test_ece"]), abs=1e-5)
    assert len({round(float(r["test_nll"]), 6) for r in rows}) == 3
    # temperature scaling is fitted on the raw logits z: one fitted T whatever the test T
    fitted = [float(r["ts_temperature"]) for r in rows]
    assert max(fitted) - min(fitted) < 1e-6 * max(fitted)
    for col in ("corr_acc_mean", "robust_acc_worst", "test_logit_norm"):
        assert all(r[col] not in ("", "nan") for r in rows), col
    info = json.loads((out / "groups" / "evaluate" / "eval.json").read_text())
    assert set(info) == {"clean", "calibration", "corruption", "adversarial", "gradients",
                         "logits"}
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["kind"] == "evaluate" and sweep["model_metadata"]["temperature"] == 4.0
    report = (out / "report.md").read_text()
    for title in ("## Calibration", "## Corruption robustness", "## Adversarial robustness"):
        body = report.split(title, 1)[1].split("\n## ", 1)[0]
        assert "*Not run:*" not in body, title
    assert "trained at τ = 4, seed 0" in report and "test-time temperature T" in report
    assert (out / "report.html").is_file()


def test_python_api_on_any_callable_matches_closed_form(tmp_path):
    data = load_dataset("digits")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def logits(x):  # a plain function, not a module
        return net(x) * 3.0

    rows = evaluate_model(logits, dataset=data, temperatures=[0.5, 2.0], out=tmp_path / "e",
                          evaluations=["clean", "calibration"], report=False)
    x, y = as_float(data.test.x).float(), data.test.y
    with torch.no_grad():
        z = logits(x)
    for row in rows:
        t = row["temperature"]
        expected = tempered_cross_entropy(z, y, t).item()
        assert row["test_nll"] == pytest.approx(expected, rel=1e-5)
        assert row["test_acc"] == pytest.approx((z.argmax(1) == y).double().mean().item())
    assert tempcheck.evaluate_model is evaluate_model


def test_per_member_inputs_run_as_one_batch():
    from tempcheck.external import SharedWeightsBank

    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    bank = SharedWeightsBank(net, members=3, num_classes=10)
    x = torch.rand(4, 3, 1, 8, 8)
    with torch.no_grad():
        out = bank(x)
        assert out.shape == (4, 3, 10)
        for k in range(3):
            assert torch.allclose(out[:, k], net(x[:, k]))
        assert torch.equal(bank(x[:, 0])[:, 2], net(x[:, 0]))


@pytest.mark.parametrize("argv, says", [
    (["--eval", "features"], "cannot run on a model known only by its logits"),
    (["--temperatures", "0,1"], "finite and > 0"),
    (["train.epochs=3"], "eval.* overrides only"),
])
def test_evaluate_bad_input_is_one_line(exported, tmp_path, capsys, argv, says):
    out = tmp_path / "e"
    assert main(["evaluate", "--model", str(exported[1]), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1
    assert not out.exists()


def test_not_a_model_file_and_wrong_logits_are_model_errors(tmp_path):
    bogus = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(3)}, bogus)
    assert main(["evaluate", "--model", str(bogus), "--out", str(tmp_path / "e")]) == 2
    data = load_dataset("digits")
    with pytest.raises(ModelError, match=r"must return \(B, 10\) logits"):
        evaluate_model(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), dataset=data,
                       out=tmp_path / "e2", report=False)
    assert not (tmp_path / "e2").exists()


def test_evaluate_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "e"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(Exception, match="not empty"):
        evaluate_model(lambda x: x.flatten(1)[:, :10], dataset="digits", out=out)
    assert (out / "keep.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    with pytest.raises(ConfigError):
        evaluate_model(lambda x: x, dataset="digits", out=tmp_path / "f",
                       evaluations=["dynamics"])


def test_torch_export_file_evaluates_like_the_run(exported, tmp_path, capsys):
    run, _ = exported
    program = tmp_path / "m.pt2"
    assert main(["export", str(run), "--temperature", "4", "--format", "export",
                 "--out", str(program)]) == 0
    out = tmp_path / "e"
    assert main(["evaluate", "--model", str(program), "--temperatures", "1,4", "--eval",
                 "clean,calibration", "--no-report", "--out", str(out)]) == 0, \
        capsys.readouterr().err
    rows, trained = _rows(out / "results.csv"), _rows(run / "results.csv")[0]
    assert float(rows[1]["test_nll"]) == pytest.approx(float(trained["test_nll"]), rel=1e-5)
    assert float(rows[0]["training_temperature"]) == 4.0
