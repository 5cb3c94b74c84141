"""Early-learning theory (docs/theory.md §3): tangent kernel, linearised dynamics against real
gradient descent, the η β² collapse, the 1/β² stability edge, and the study's files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tempcheck.analysis.common import subsample
from tempcheck.analysis.dynamics import (
    agreement_horizon,
    collapse_runs,
    curve_spread,
    fit_power_law,
    is_stable,
    model_factory,
    run_dynamics_study,
    stability_scan,
    write_dynamics,
)
from tempcheck.analysis.linearised import (
    LinearLogits,
    compare_early_curves,
    curvature_edge,
    hessian_edge,
    model_logits,
    tangent_kernel,
)
from tempcheck.registry import create_model


def _subset(data, n, seed=0):
    idx = subsample(len(data.train), n, seed)
    return data.train.x[idx].double(), data.train.y[idx]


def _loop_jacobian(model, x):
    """J row by row with plain autograd: an independent way to build J."""
    params = [p for p in model.parameters() if p.requires_grad]
    z = model_logits(model, x).reshape(-1)
    rows = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(z[i], params,
                                                                retain_graph=True)])
            for i in range(z.shape[0])]
    return torch.stack(rows)


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_tangent_kernel_is_jjt_symmetric_psd(digits, family):
    kw = {"hidden": (6,)} if family == "mlp" else {"widths": (3, 4)}
    model = create_model(family, members=1, seeds=[0], **kw, **digits.model_kwargs()).double()
    model.eval()
    x, _ = _subset(digits, 3)
    theta = tangent_kernel(model, x)
    j = _loop_jacobian(model, x)
    assert theta.shape == (30, 30)
    torch.testing.assert_close(theta, j @ j.T, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(theta, theta.T)
    assert float(torch.linalg.eigvalsh(theta).min()) > -1e-10 * float(theta.diagonal().max())


def test_linear_kernel_closed_form(digits):
    model = LinearLogits(in_features=64, num_classes=10).double()
    x, _ = _subset(digits, 4)
    f = model(x, return_features=True)[0][:, 0]  # (4, 64)
    expected = torch.kron(f @ f.T + 1.0, torch.eye(10, dtype=torch.float64))
    torch.testing.assert_close(tangent_kernel(model, x), expected)


@pytest.mark.parametrize("beta, fraction", [(1.0, 0.5), (0.3, 0.9), (2.5, 0.2)])
def test_linear_model_prediction_matches_gradient_descent(digits, beta, fraction):
    """z = W f + b is linear in (W, b), so the linearised map is exact: agreement within 1%
    over 50 steps is the requirement, and it in fact holds to rounding error."""
    model = LinearLogits(in_features=64, num_classes=10, head_init_scale=0.5).double()
    x, y = _subset(digits, 32)
    theta = tangent_kernel(model, x)
    with torch.no_grad():
        u0 = beta * model_logits(model, x)
    eta = fraction * curvature_edge(theta, u0, beta)
    r = compare_early_curves(model, x, y, eta=eta, beta=beta, steps=50, theta=theta)
    assert r["meas_loss"][-1] < 0.8 * r["meas_loss"][0]  # it did learn
    assert r["max_rel_loss_error"] < 0.01
    assert r["max_rel_loss_error"] < 1e-9
    assert r["max_acc_error"] == 0.0


def test_prediction_is_first_order_only_for_a_deep_model(digits):
    """The same comparison can fail: a ReLU mlp leaves the linear regime within 50 steps.
    The linearisation is still exact to first order: the one-step error shrinks like η²."""
    model = create_model("mlp", members=1, seeds=[0], hidden=(32, 32),
                         **digits.model_kwargs()).double()
    x, y = _subset(digits, 32)
    theta = tangent_kernel(model, x)
    with torch.no_grad():
        u0 = model_logits(model.eval(), x)
    eta = 0.3 * curvature_edge(theta, u0, 1.0)
    r = compare_early_curves(model, x, y, eta=eta, beta=1.0, steps=50, theta=theta)
    assert r["max_rel_loss_error"] > 0.01
    one_step = []
    for scale in (1.0, 0.1):
        s = compare_early_curves(model, x, y, eta=scale * eta, beta=1.0, steps=1, theta=theta)
        one_step.append(abs(s["pred_loss"][1] - s["meas_loss"][1]))
    assert 30 < one_step[0] / one_step[1] < 300


def test_collapse_on_the_linear_model(digits):
    make = model_factory("linear", digits)
    x, y = _subset(digits, 24)
    out = collapse_runs(make, x, y, betas=[0.7, 1.3, 2.9], eta_beta2=0.05, steps=30)
    # equal up to the float32 rounding of the scaled init (BankLinear draws in float32)
    u0 = [r["u0_norm"] for r in out["runs"]]
    assert max(u0) - min(u0) < 1e-6 * max(u0)
    assert out["matched_spread"] < 1e-6
    assert out["control_spread"] > 0.05
    assert [r["head_init_scale"] for r in out["runs"]] == pytest.approx([1 / 0.7, 1 / 1.3,
                                                                         1 / 2.9])


def test_stability_slope_on_the_linear_model(digits):
    """Only η β² matters for the linear model with ‖βz₀‖ held fixed, so log η_max falls with
    slope −2 exactly, up to the scan's resolution: with refine = 5 each η_max is known to a
    factor 2^(1/32) ≈ 1.022, i.e. ±0.022 in log η; over log β spanning ln(4.2/0.6) ≈ 1.95 that
    moves the slope by at most ~2·0.022/1.95 ≈ 0.023 — hence the 0.05 tolerance."""
    make = model_factory("linear", digits)
    x, y = _subset(digits, 24)
    scan = stability_scan(make, x, y, betas=[0.6, 1.1, 2.3, 4.2], eta_start=0.1, steps=20,
                          refine=5)
    fit = scan["fit"]
    assert all(math.isfinite(e) for e in scan["eta_max"])
    assert abs(fit["slope"] + 2.0) <= max(3 * fit["slope_se"], 0.05)
    assert scan["edge_fit"]["slope"] == pytest.approx(-2.0, abs=1e-6)
    assert any(not ok for _, _, ok in scan["tried"]) and any(ok for _, _, ok in scan["tried"])


def test_hessian_edge_equals_gauss_newton_edge_for_a_linear_model(digits):
    model = LinearLogits(in_features=64, num_classes=10).double()
    x, y = _subset(digits, 8)
    with torch.no_grad():
        u0 = 1.5 * model_logits(model, x)
    gn = curvature_edge(tangent_kernel(model, x), u0, 1.5)
    assert hessian_edge(model, x, y, 1.5) == pytest.approx(gn, rel=1e-5)


def test_small_helpers():
    fit = fit_power_law([1, 2, 4, 8], [3 * b**-2.0 for b in (1, 2, 4, 8)])
    assert fit["slope"] == pytest.approx(-2.0) and fit["slope_se"] == pytest.approx(0, abs=1e-12)
    assert fit["intercept"] == pytest.approx(math.log(3))
    noisy = fit_power_law([1, 2, 4, 8], [1.0, 0.3, 0.06, 0.016])
    assert noisy["slope_se"] > 0 and math.isnan(fit_power_law([1, 2], [1, 2])["slope_se"])
    assert is_stable([2.0, 1.5, 1.0]) and not is_stable([2.0, 2.5, 1.0])
    assert not is_stable([2.0, 1.0, float("nan")]) and not is_stable([2.0, 2.0])
    assert agreement_horizon([1.0, 1.0, 1.2], [1.0, 1.005, 1.0], 0.01) == 1
    assert agreement_horizon([2.0], [1.0], 0.01) == -1
    assert curve_spread(np.array([[1.0, 2.0], [1.0, 3.0]])) == pytest.approx(0.4)


def test_study_writes_its_files(tmp_path, digits):
    def make(sigma):
        return create_model("mlp", members=1, seeds=[0], hidden=(8,), head_init_scale=sigma,
                            **digits.model_kwargs()).double().eval()

    result = run_dynamics_study(make, digits, n_examples=16, betas=(0.5, 2.0), steps=8,
                                scan_steps=6, scan_refine=2)
    info = result["info"]
    assert len(info["runs"]) == 2 and info["n_examples"] == 16
    assert info["eta_beta2"] > 0 and info["stability"]["fit"]["points"] == 2
    assert result["arrays"]["meas_loss"].shape == (2, 9)
    json_path, npz_path = write_dynamics(tmp_path / "run", result)
    loaded = json.loads(json_path.read_text())
    assert loaded["runs"][0]["beta"] == 0.5
    with np.load(npz_path) as npz:
        assert {"steps", "pred_loss", "meas_loss", "control_loss", "scan_tried_eta",
                "scan_eta_max"} <= set(npz.files)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["dynamics.json",
                                                                     "dynamics.npz"]
