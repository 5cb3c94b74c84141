"""Negative-class gradient balance (docs/theory.md §2): closed forms, limits, and the measured
feature gradient against −((1 − p_y)/τ)·[w_y − Σ q_j w_j]."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tempcheck.analysis.gradients import (
    closed_form_feature_gradient,
    gradient_balance,
    gradient_balance_means,
    measured_feature_gradient,
    negative_weights,
    relative_discrepancy,
    rounding_floor,
    run,
    step_factor,
)
from tempcheck.data.base import DatasetSplits, Split
from tempcheck.errors import ConfigError
from tempcheck.eval.base import EvalContext
from tempcheck.registry import create_model
from tempcheck.softmax import tempered_softmax


def _logits(n=64, k=3, c=10, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, c, generator=g) * scale, torch.randint(0, c, (n,), generator=g)


def test_q_is_p_over_one_minus_p_true():
    z, y = _logits()
    tau = torch.tensor([0.5, 1.0, 4.0])
    p = tempered_softmax(z.double(), tau)
    p_true = p.gather(-1, y.view(-1, 1, 1).expand(-1, 3, 1))
    expected = p / (1 - p_true)
    expected.scatter_(-1, y.view(-1, 1, 1).expand(-1, 3, 1), 0.0)
    q = negative_weights(z, y, tau)
    torch.testing.assert_close(q, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(q.sum(-1), torch.ones(64, 3, dtype=torch.float64))
    torch.testing.assert_close(step_factor(z, y, tau), (1 - p_true.squeeze(-1)) / tau)


def test_step_factor_has_no_cancellation_when_p_true_is_one():
    # margin 60 at τ = 1: 1 − p_y ≈ 9·e^−60 ≈ 8e−26, far below float64 eps
    z = torch.zeros(1, 1, 10, dtype=torch.float64)
    z[0, 0, 3] = 60.0
    y = torch.tensor([3])
    s = float(step_factor(z, y, 1.0))
    assert s == pytest.approx(9 * math.exp(-60), rel=1e-12)
    assert 1.0 - float(torch.softmax(z, -1)[0, 0, 3]) == 0.0  # the naive form is 0


def test_hand_example():
    # negatives log 2, 0, 0 at τ = 1 → q = (1/2, 1/4, 1/4)
    z = torch.tensor([[[5.0, math.log(2.0), 0.0, 0.0]]])
    s = gradient_balance(z, torch.tensor([0]), 1.0)
    h = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert float(s["max_q"]) == pytest.approx(0.5)
    assert float(s["hardest_share"]) == pytest.approx(0.25 / (0.25 + 2 * 0.0625))
    assert float(s["entropy_norm"]) == pytest.approx(h / math.log(3))
    assert float(s["eff_negatives"]) == pytest.approx(math.exp(h))


def test_limits_in_temperature():
    z, y = _logits(k=1)
    hot = gradient_balance(z, y, 1e4)
    assert torch.allclose(hot["entropy_norm"], torch.ones_like(hot["entropy_norm"]), atol=1e-6)
    assert torch.allclose(hot["max_q"], torch.full_like(hot["max_q"], 1 / 9), atol=1e-4)
    assert torch.allclose(hot["eff_negatives"], torch.full_like(hot["max_q"], 9.0), atol=1e-4)
    # distinct logits with gaps ≥ 1 (a permutation of 0 … 9), so τ = 0.01 is cold for all
    g = torch.Generator().manual_seed(3)
    perm = torch.stack([torch.randperm(10, generator=g) for _ in range(64)]).float()
    cold = gradient_balance(perm.unsqueeze(1), y, 1e-2)
    assert torch.allclose(cold["max_q"], torch.ones_like(cold["max_q"]), atol=1e-6)
    assert torch.allclose(cold["hardest_share"], torch.ones_like(cold["max_q"]), atol=1e-6)
    assert float(cold["entropy_norm"].max()) < 1e-4
    # step factor: shrinks like 1/τ when hot
    assert torch.allclose(hot["step_factor"] * 1e4, torch.full_like(hot["max_q"], 0.9), atol=1e-3)


def test_large_tau_first_order_expansion():
    """max q = (1 + (z_max − z̄_neg)/τ)/(C − 1) + O(τ⁻²): the error falls ~100× per 10× τ."""
    z, y = _logits(n=16, k=1)
    neg = z[:, 0].clone()
    neg[torch.arange(16), y] = float("nan")
    gap = (torch.from_numpy(np.nanmax(neg.numpy(), 1)) - torch.from_numpy(
        np.nanmean(neg.numpy(), 1))).double()
    errs = []
    for tau in (100.0, 1000.0):
        first = (1 + gap / tau) / 9
        errs.append(float((gradient_balance(z, y, tau)["max_q"][:, 0] - first).abs().max()))
    assert 50 < errs[0] / errs[1] < 200


def test_derived_check_qualitative():
    """An illustration quotes max q = 0.53 / 0.18 / 0.118 at τ = 0.5 / 5 / 50 for a 'random head'
    (K = 10). No single natural setup reproduced all three (see the analysis report); what
    holds for any logits: max q falls with τ towards 1/9, staying above it."""
    z, y = _logits(n=4000, k=1, c=10, scale=1.0)
    means = [float(gradient_balance(z, y, t)["max_q"].mean()) for t in (0.5, 5.0, 50.0)]
    assert means[0] > means[1] > means[2] > 1 / 9
    assert means[2] - 1 / 9 < 0.01
    assert 0.45 < means[0] < 0.65  # N(0, 1) logits: ≈ 0.55 (the quoted 0.53 lies within)


def test_means_skip_diverged_members():
    z, y = _logits()
    z[:, 1] = float("nan")
    means = gradient_balance_means(z, y, torch.tensor([0.5, 1.0, 4.0]))
    assert set(means) == {"grad_q_entropy", "grad_eff_negatives", "grad_max_q",
                          "grad_hardest_share", "grad_step_factor"}
    assert math.isnan(means["grad_max_q"][1])
    assert all(math.isfinite(means["grad_max_q"][k]) for k in (0, 2))


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_measured_feature_gradient_matches_closed_form(family):
    kw = {"hidden": (16,)} if family == "mlp" else {"widths": (4, 8)}
    model = create_model(family, num_classes=5, in_channels=1, image_size=6, members=3,
                         seeds=[0, 1, 2], **kw).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 1, 6, 6, generator=g)
    y = torch.randint(0, 5, (12,), generator=g)
    tau = torch.tensor([0.3, 1.0, 7.0])
    feats, measured, head_error = measured_feature_gradient(model, x, y, tau)
    closed = closed_form_feature_gradient(feats, model.head.weight, model.head.bias, y, tau)
    assert head_error < 1e-5
    assert float(relative_discrepancy(measured, closed).max()) < 1e-10
    # the check can fail: a wrong step factor (τ instead of 1/τ) is caught
    wrong = closed * tau.double().view(1, -1, 1) ** 2
    assert float(relative_discrepancy(measured, wrong).max()) > 0.5


def test_saturated_samples_are_compared_at_the_rounding_floor():
    """A very confident member (1 − p_y ≈ 1e−40 for some samples) has feature gradients at the
    float64 rounding level of autograd; the floor keeps them from faking a discrepancy."""
    model = create_model("mlp", num_classes=5, in_channels=1, image_size=6, members=2,
                         seeds=[0, 1], hidden=(16,), head_init_scale=300.0).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 6, 6, generator=g)
    with torch.no_grad():
        y = model(x)[:, 0].argmax(-1)  # label = prediction: saturated at a cold τ
    tau = torch.tensor([0.05, 1.0])
    feats, measured, _ = measured_feature_gradient(model, x, y, tau)
    closed = closed_form_feature_gradient(feats, model.head.weight, model.head.bias, y, tau)
    assert float(step_factor(model.head(feats.float()).detach(), y, tau)[:, 0].min()) < 1e-30
    floor = rounding_floor(model.head.weight, tau)
    assert float(relative_discrepancy(measured, closed, floor).max()) < 1e-4
    wrong = closed * 1.01
    assert float(relative_discrepancy(measured, wrong, floor).min()) > 1e-3


def _ctx(options=None, nan_member=None):
    model = create_model("mlp", num_classes=4, in_channels=1, image_size=4, members=3,
                         seeds=[0, 1, 2], hidden=(8,)).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(40, 1, 4, 4, generator=g)
    y = torch.randint(0, 4, (40,), generator=g)
    split = Split(x, y)
    data = DatasetSplits("toy", split, split, split, 4, 1, 4, (0.5,), (0.25,))
    with torch.no_grad():
        z = model(x)
    if nan_member is not None:
        z[:, nan_member] = float("nan")
    return EvalContext(model=model, data=data, temperatures=torch.tensor([0.5, 1.0, 5.0]),
                       device=torch.device("cpu"), options=options or {},
                       cache={"logits/test": z})


def test_run_columns_and_arrays():
    result = run(_ctx({"bins": 10, "check_examples": 16}))
    assert set(result.columns) == {"grad_q_entropy", "grad_eff_negatives", "grad_max_q",
                                   "grad_hardest_share", "grad_step_factor",
                                   "grad_closed_form_error"}
    assert all(len(v) == 3 for v in result.columns.values())
    assert max(result.columns["grad_closed_form_error"]) < 1e-10
    assert result.arrays["entropy_hist"].shape == (3, 10)
    assert (result.arrays["entropy_hist"].sum(1) == 40).all()
    assert (result.arrays["max_q_hist"].sum(1) == 40).all()
    assert result.arrays["q_sorted_mean"].shape == (3, 3)
    assert result.info["check"] == "ok" and result.info["check_examples"] == 16
    # hotter member, more balanced
    ent = result.columns["grad_q_entropy"]
    assert ent[0] < ent[1] < ent[2]


def test_run_with_a_diverged_member_and_bad_options():
    result = run(_ctx({"check_examples": 0}, nan_member=1))
    assert math.isnan(result.columns["grad_max_q"][1])
    assert math.isfinite(result.columns["grad_max_q"][0])
    assert result.arrays["entropy_hist"][1].sum() == 0
    assert result.info["check"].startswith("skipped")
    with pytest.raises(ConfigError, match="eval.gradients.nope"):
        run(_ctx({"nope": 1}))
    with pytest.raises(ConfigError, match="bins"):
        run(_ctx({"bins": 0}))
