"""eval.json keeps what an evaluation says about its own timing (per-attack seconds) next to
the wall time the group measures for the whole evaluation."""

from __future__ import annotations

import json

from tempcheck.cli import main


def test_eval_json_keeps_per_attack_seconds_and_the_evaluation_wall_time(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["sweep", "--temperatures", "1", "--seeds", "0", "--epochs", "1",
                 "--eval", "adversarial", "--model.options.widths=[4,4,4]", "--out", str(out),
                 "--eval.adversarial.suite=quick", "--eval.adversarial.n_examples=8",
                 "--eval.adversarial.diag_examples=4", "--eval.adversarial.more_steps=3",
                 "--eval.adversarial.steps=2", "--eval.adversarial.eps_factors=[1]"])
    assert code == 0, capsys.readouterr().err
    info = json.loads((out / "groups" / "seed0" / "eval.json").read_text())["adversarial"]
    per_attack = info["seconds"]
    assert isinstance(per_attack, dict)
    assert {"fgsm", "pgd_ce_tau", "pgd_margin", "diagnostics"} <= set(per_attack)
    assert all(v >= 0 for v in per_attack.values())
    assert info["eval_seconds"] >= sum(per_attack.values()) - 1e-3
