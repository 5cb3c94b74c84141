"""Tempered softmax / cross-entropy: closed forms, limits and float32 numerics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tempcheck.errors import TemperatureError
from tempcheck.softmax import (
    cross_entropy_gradient,
    scale_logits,
    tempered_cross_entropy,
    tempered_log_softmax,
    tempered_softmax,
)


def test_tau_one_equals_torch_cross_entropy():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 10, generator=g) * 3
    y = torch.randint(0, 10, (32,), generator=g)
    assert torch.allclose(tempered_cross_entropy(z, y, 1.0), F.cross_entropy(z, y), atol=1e-6)
    assert torch.allclose(tempered_cross_entropy(z, y, 1.0, label_smoothing=0.1),
                          F.cross_entropy(z, y, label_smoothing=0.1), atol=1e-6)


def test_gradient_is_p_minus_y_over_tau():
    g = torch.Generator().manual_seed(1)
    z = (torch.randn(16, 4, 10, generator=g) * 5).requires_grad_()
    y = torch.randint(0, 10, (16,), generator=g)
    tau = torch.tensor([0.1, 1.0, 3.0, 50.0])
    tempered_cross_entropy(z, y, tau, reduction="sum").sum().backward()
    assert torch.allclose(z.grad, cross_entropy_gradient(z.detach(), y, tau), atol=1e-6)
    p = torch.softmax(z.detach() / tau.view(1, 4, 1), -1)
    onehot = F.one_hot(y, 10).float().unsqueeze(1)
    assert torch.allclose(z.grad, (p - onehot) / tau.view(1, 4, 1), atol=1e-6)


def test_beta_is_inverse_temperature():
    z = torch.randn(8, 3, 5)
    y = torch.randint(0, 5, (8,))
    tau = torch.tensor([0.5, 2.0, 8.0])
    assert torch.allclose(tempered_cross_entropy(z, y, tau), tempered_cross_entropy(z, y, beta=1 / tau))
    with pytest.raises(TemperatureError):
        tempered_softmax(z, 1.0, beta=1.0)


def test_vector_temperature_equals_each_member_alone():
    z = torch.randn(6, 3, 7)
    y = torch.randint(0, 7, (6,))
    tau = [0.2, 1.0, 9.0]
    banked = tempered_cross_entropy(z, y, tau)  # (K,)
    assert banked.shape == (3,)
    for k, t in enumerate(tau):
        assert torch.allclose(banked[k], tempered_cross_entropy(z[:, k], y, t), atol=1e-6)


def test_large_temperature_gives_uniform_and_small_gives_argmax():
    z = torch.randn(4, 10) * 10
    assert torch.allclose(tempered_softmax(z, 1e6), torch.full((4, 10), 0.1), atol=1e-4)
    p = tempered_softmax(z, 1e-4)
    assert torch.equal(p.argmax(-1), z.argmax(-1))
    assert torch.allclose(p.max(-1).values, torch.ones(4), atol=1e-5)


def test_large_tau_expansion_matches_reference_formula():
    """CE_τ = log K − (z_y − mean z)/τ + Var_uniform(z)/(2τ²) + O(τ⁻³) (docs/theory.md §1)."""
    z = torch.randn(5, 10, dtype=torch.float64)
    y = torch.randint(0, 10, (5,))
    tau = 200.0
    exact = tempered_cross_entropy(z, y, tau, reduction="none")
    zy = z.gather(1, y[:, None]).squeeze(1)
    approx = math.log(10) - (zy - z.mean(1)) / tau + z.var(1, unbiased=False) / (2 * tau**2)
    assert torch.allclose(exact, approx, atol=1e-6)


def test_small_tau_limit_is_a_hinge_on_the_hardest_competitor():
    z = torch.tensor([[2.0, 5.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0])
    tau = 1e-3
    assert torch.allclose(tempered_cross_entropy(z, y, tau), torch.tensor(3.0 / tau,
                                                                        dtype=torch.float64),
                          rtol=1e-6)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), [1.0, 0.0]])
def test_bad_temperature_is_a_clear_error(bad):
    with pytest.raises(TemperatureError, match="temperature"):
        tempered_softmax(torch.zeros(2, 2, 3), bad)


def test_vector_temperature_shape_mismatch():
    with pytest.raises(TemperatureError, match="K=3"):
        scale_logits(torch.zeros(2, 4, 3), [1.0, 2.0, 3.0])


def test_log_softmax_never_underflows_to_minus_inf():
    z = torch.tensor([[0.0, 1e4]])
    out = tempered_log_softmax(z, 1e-3)
    assert torch.isfinite(out[0, 1])
    assert out[0, 0] == pytest.approx(-1e7, rel=1e-6)  # finite, not -inf


@settings(max_examples=150, deadline=None)
@given(
    log_tau=st.floats(math.log(1e-3), math.log(1e3)),
    scale=st.floats(1e-3, 1e4),
    seed=st.integers(0, 2**16),
    smoothing=st.sampled_from([0.0, 0.1]),
)
# near-tied top classes at |z|/τ ≈ 2,757: dividing before shifting by the max lost 1.6e-5
@example(log_tau=1.0, scale=7727.875, seed=65535, smoothing=0.0)
def test_float32_loss_and_gradient_are_finite_and_match_float64(log_tau, scale, seed, smoothing):
    tau = math.exp(log_tau)
    g = torch.Generator().manual_seed(seed)
    z64 = (torch.rand(8, 10, generator=g, dtype=torch.float64) * 2 - 1) * scale
    y = torch.randint(0, 10, (8,), generator=g)
    z32 = z64.float().requires_grad_()
    loss32 = tempered_cross_entropy(z32, y, tau, label_smoothing=smoothing, reduction="none")
    loss32.sum().backward()
    # the reference computes in float64 from the very same (float32-rounded) logits
    ref = z32.detach().double().requires_grad_()
    loss64 = tempered_cross_entropy(ref, y, tau, label_smoothing=smoothing, reduction="none")
    loss64.sum().backward()
    assert torch.isfinite(loss32).all() and torch.isfinite(z32.grad).all()
    # relative to the loss scale (|z|/τ), float32 carries ~7 digits
    tol = 1e-5 * (1 + loss64.abs().max().item())
    assert torch.allclose(loss32.double(), loss64, atol=tol, rtol=1e-5)
    assert torch.allclose(z32.grad.double(), ref.grad, atol=1e-5 / tau + 1e-6, rtol=1e-4)
