"""The adversarial evaluation: columns, arrays, options, and — the point of it — a member whose
CE gradients vanish (huge logits, or a tiny training temperature) looks robust to CE attacks,
is flagged as masked, and is still broken by margin/DLR attacks and Square (docs/theory.md §5)."""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tempcheck.errors import ConfigError
from tempcheck.eval.base import EvalContext
from tempcheck.eval.robustness import AdversarialOptions, default_eps, run

sys.path.insert(0, str(Path(__file__).parents[1] / "attacks"))
from helpers_attacks import ScaledLogits, digits, trained_bank  # noqa: E402

SMALL = dict(n_examples=100, diag_examples=48, more_steps=40)


@functools.lru_cache(maxsize=None)
def _bank():
    return trained_bank(members=2, steps=150)


def _ctx(model, temperatures, **options) -> EvalContext:
    return EvalContext(model=model, data=digits(), temperatures=torch.tensor(temperatures),
                       device=torch.device("cpu"), options=options)


@functools.lru_cache(maxsize=None)
def _standard_on_scaled_logits():
    model = ScaledLogits(_bank(), [1.0, 1e4])  # member 1: a cold softmax in disguise
    opts = dict(SMALL, suite="standard", apgd_steps=20, apgd_targets=3, square_queries=300)
    return run(_ctx(model, [1.0, 1.0], **opts))


def test_huge_logits_look_robust_to_ce_attacks_and_are_flagged_as_masked():
    col = _standard_on_scaled_logits().columns
    clean = col["clean_acc_adv_sample"]
    assert clean[1] > 0.9
    # member 1: CE-based attacks are fooled ...
    for attack in ("fgsm", "pgd_ce_tau", "pgd_ce_raw", "apgd_ce"):
        assert col[f"robust_acc_{attack}"][1] >= clean[1] - 0.05, attack
    # ... margin / DLR / gradient-free attacks are not
    for attack in ("pgd_margin", "pgd_dlr", "apgd_t", "square"):
        assert col[f"robust_acc_{attack}"][1] < clean[1] - 0.3, attack
    assert col["grad_zero_share"][1] > 0.5
    assert col["masking_suspected"] == [False, True]
    assert col["robust_verdict"] == ["not robust", "masked"]
    assert "zero input gradients" in col["masking_reason"][1]
    assert "margin/DLR" in col["masking_reason"][1]
    assert col["masking_reason"][0] == ""
    assert col["masking_eps_large_acc"][1] > 0.5 and col["masking_eps_large_acc"][0] < 0.1
    assert col["masking_steps_drop"][1] <= 0.02 < 0.2 < col["masking_steps_drop"][0]
    assert "no better than one step" in col["masking_reason"][1]


def test_worst_case_is_per_example_and_below_every_attack():
    col = _standard_on_scaled_logits().columns
    attacks = [c for c in col if c.startswith("robust_acc_") and c != "robust_acc_worst"]
    assert len(attacks) == 8
    for k in range(2):
        assert col["robust_acc_worst"][k] <= min(col[c][k] for c in attacks) + 1e-9
        assert col["robust_acc_worst"][k] <= col["clean_acc_adv_sample"][k]


def test_arrays_and_info():
    result = _standard_on_scaled_logits()
    a, info = result.arrays, result.info
    assert a["logits_clean"].shape == a["logits_adv"].shape == (48, 2, 10)
    assert a["labels"].shape == (48,)
    assert list(a["eps_sweep_eps"]) == pytest.approx([0.05, 0.1, 0.2, 0.4])
    assert a["eps_sweep_acc"].shape == (4, 2)
    assert a["steps_sweep_steps"].tolist() == [1, 2, 5, 10, 20, 40]
    assert (np.diff(a["steps_sweep_acc"], axis=0) <= 0).all()  # more steps never un-break
    assert not np.allclose(a["logits_clean"][:, 0], a["logits_adv"][:, 0])  # the attack moved
    assert info["eps"] == pytest.approx(0.1) and info["n_examples"] == 100
    assert set(info["attacks"]) == {"fgsm", "pgd_ce_tau", "pgd_ce_raw", "pgd_margin",
                                    "pgd_dlr", "apgd_ce", "apgd_t", "square"}
    assert info["attacks"]["pgd_ce_tau"]["alpha"] == pytest.approx(0.025)
    assert len(info["diagnostics"]) == 2 and info["diagnostics"][1]["masking_suspected"]


def test_a_tiny_training_temperature_is_masking_too_and_raw_ce_sees_through_it():
    result = run(_ctx(_bank(), [1.0, 1e-4], **SMALL))  # quick suite
    col = result.columns
    assert "robust_acc_square" not in col and math.isnan(col["masking_blackbox_gap"][0])
    assert col["masking_suspected"] == [False, True]
    assert col["robust_acc_pgd_ce_tau"][1] > col["robust_acc_pgd_ce_raw"][1] + 0.3
    assert col["robust_acc_pgd_ce_raw"][0] == pytest.approx(col["robust_acc_pgd_ce_tau"][0])


def test_options_and_defaults():
    assert default_eps(digits())[0] == pytest.approx(0.1)
    assert default_eps(SimpleNamespace(image_size=32))[0] == pytest.approx(8 / 255)
    assert AdversarialOptions(eps_factors=[2, 0.5]).eps_factors == (0.5, 1.0, 2.0)
    with pytest.raises(ConfigError, match="suite"):
        AdversarialOptions(suite="auto")
    with pytest.raises(ConfigError, match="eps"):
        AdversarialOptions(eps=-0.1)
    with pytest.raises(ConfigError, match="unknown option eval.adversarial.epsilon"):
        run(_ctx(_bank(), [1.0, 1.0], epsilon=0.1))
