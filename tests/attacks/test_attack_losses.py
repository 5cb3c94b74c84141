"""Attack losses: closed forms, the invariances that make margin/DLR immune to temperature, and
the vanishing CE gradient they are immune to (docs/theory.md §5)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tempcheck.attacks.losses import LOSSES, attack_loss, dlr_loss, margin_loss


def _logits(seed: int, b: int = 6, k: int = 3, c: int = 10) -> torch.Tensor:
    return torch.randn(b, k, c, generator=torch.Generator().manual_seed(seed)) * 3.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-2, 1e4), shift=st.floats(-50, 50))
def test_dlr_unchanged_by_positive_scaling_and_shift(seed, scale, shift):
    z = _logits(seed)
    y = torch.randint(0, 10, (6,), generator=torch.Generator().manual_seed(seed + 1))
    t = (y + 1 + seed % 9) % 10
    for target in (None, t):
        ref = dlr_loss(z, y, target)
        assert torch.allclose(dlr_loss(z * scale, y, target), ref, rtol=1e-4, atol=1e-5)
        assert torch.allclose(dlr_loss(z + shift, y, target), ref, rtol=1e-4, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-2, 1e4))
def test_margin_scales_with_logits_so_its_sign_and_steps_are_unchanged(seed, scale):
    z = _logits(seed)
    y = torch.randint(0, 10, (6,), generator=torch.Generator().manual_seed(seed + 1))
    ref = margin_loss(z, y)
    scaled = margin_loss(z * scale, y)
    assert torch.allclose(scaled, ref * scale, rtol=1e-4, atol=1e-6 * scale)
    assert torch.equal(scaled > 0, ref > 0)
    assert torch.allclose(margin_loss(z + 7.0, y), ref, atol=1e-4)
    # the sign of the input gradient (what an L∞ step uses) is the same for any scale
    w = torch.randn(64, 3, 10, generator=torch.Generator().manual_seed(seed + 2))
    x = torch.rand(6, 64, generator=torch.Generator().manual_seed(seed + 3), requires_grad=True)
    (g1,) = torch.autograd.grad(margin_loss(torch.einsum("bi,ikc->bkc", x, w), y).sum(), x)
    (g2,) = torch.autograd.grad(margin_loss(torch.einsum("bi,ikc->bkc", x, w * scale), y).sum(), x)
    assert torch.equal(g1.sign(), g2.sign())


def test_margin_and_dlr_closed_forms():
    z = torch.tensor([[[3.0, 1.0, 2.0, -1.0]]])  # (1, 1, 4), π = (3, 2, 1, -1)
    y, t = torch.tensor([0]), torch.tensor([3])
    assert margin_loss(z, y).item() == pytest.approx(2.0 - 3.0)
    assert margin_loss(z, y, t).item() == pytest.approx(-1.0 - 3.0)
    assert dlr_loss(z, y).item() == pytest.approx(-(3.0 - 2.0) / (3.0 - 1.0))
    assert dlr_loss(z, y, t).item() == pytest.approx(-(3.0 - (-1.0)) / (3.0 - 0.5 * (1.0 - 1.0)))


def test_cross_entropy_losses_match_torch_and_use_each_members_temperature():
    z = _logits(0)
    y = torch.arange(6) % 10
    tau = torch.tensor([0.5, 1.0, 4.0])
    ce_tau = attack_loss("ce_tau", z, y, temperatures=tau)
    for k in range(3):
        ref = F.cross_entropy(z[:, k] / tau[k], y, reduction="none")
        assert torch.allclose(ce_tau[:, k], ref, atol=1e-5)
    raw = attack_loss("ce_raw", z, y)
    assert torch.allclose(raw, F.cross_entropy(z.transpose(1, 2), y[:, None].expand(6, 3),
                                               reduction="none"), atol=1e-5)
    t = (y + 3) % 10
    assert torch.allclose(attack_loss("ce_raw", z, y, target=t),
                          -attack_loss("ce_raw", z, t), atol=1e-6)
    assert set(LOSSES) == {"ce_tau", "ce_raw", "margin", "dlr"}


def test_huge_logits_zero_the_ce_gradient_but_not_the_dlr_gradient():
    """The masking mechanism: CE's input gradient underflows to exactly 0, DLR's does not."""
    z0 = torch.tensor([[[2.0, 0.5, 0.1, -0.3, -1.0]]])
    y = torch.tensor([0])
    z = (z0 * 1e4).requires_grad_(True)
    (g_ce,) = torch.autograd.grad(attack_loss("ce_raw", z, y).sum(), z)
    (g_dlr,) = torch.autograd.grad(attack_loss("dlr", z, y).sum(), z)
    assert torch.count_nonzero(g_ce) == 0
    assert torch.count_nonzero(g_dlr) > 0


def test_loss_errors():
    z, y = _logits(1), torch.zeros(6, dtype=torch.long)
    with pytest.raises(ValueError, match="unknown attack loss"):
        attack_loss("hinge", z, y)
    with pytest.raises(ValueError, match="temperatures"):
        attack_loss("ce_tau", z, y)
    with pytest.raises(ValueError, match="classes"):
        dlr_loss(z[..., :3], y, torch.ones(6, dtype=torch.long))
