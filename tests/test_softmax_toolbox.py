"""The other temperature primitives (docs/theory.md §7): distillation, sampling, Gumbel-softmax,
InfoNCE / NT-Xent, and their module wrappers. Closed forms, limits and seeded frequency tests."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from tempcheck.errors import TemperatureError
from tempcheck.losses import DistillationLoss, GumbelSoftmax, InfoNCELoss, NTXentLoss
from tempcheck.softmax import (
    distillation_loss,
    gumbel_softmax,
    gumbel_temperature_schedule,
    info_nce,
    nt_xent,
    sample_with_temperature,
    top_k_top_p_mask,
)

N_DRAWS = 20_000
P_MIN = 1e-3  # seeded draws: a correct sampler passes deterministically, a wrong one fails


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _chi2_p(draws: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of Pearson's chi-square test of the draws' class counts against ``probs``."""
    counts = torch.bincount(draws.reshape(-1), minlength=probs.numel()).double()
    support = probs > 0  # classes of probability 0 are checked separately (never drawn)
    counts, probs = counts[support], probs[support].double()
    expected = probs / probs.sum() * counts.sum()
    return float(stats.chisquare(counts.numpy(), expected.numpy()).pvalue)


# -- distillation ------------------------------------------------------------------------------

def test_distillation_alpha_one_is_cross_entropy():
    g = _gen(0)
    zs, zt = torch.randn(16, 3, 7, generator=g), torch.randn(16, 7, generator=g)
    y = torch.randint(0, 7, (16,), generator=g)
    loss = distillation_loss(zs, zt, y, torch.tensor([1.0, 4.0, 8.0]), 1.0)
    ref = torch.stack([F.cross_entropy(zs[:, k], y) for k in range(3)])
    assert torch.allclose(loss, ref, atol=1e-6)
    assert torch.allclose(distillation_loss(zs[:, 0], zt, y, 3.0, 1.0),
                          F.cross_entropy(zs[:, 0], y), atol=1e-6)


def test_distillation_soft_term_is_t_squared_kl():
    g = _gen(1)
    zs, zt = torch.randn(8, 5, generator=g) * 2, torch.randn(8, 5, generator=g) * 2
    y = torch.randint(0, 5, (8,), generator=g)
    for t in (1.0, 3.0):
        ps, pt = torch.softmax(zs / t, -1), torch.softmax(zt / t, -1)
        kl = (pt * (pt.log() - ps.log())).sum(-1)
        expected = 0.3 * F.cross_entropy(zs, y, reduction="none") + 0.7 * t**2 * kl
        got = distillation_loss(zs, zt, y, t, 0.3, reduction="none")
        assert torch.allclose(got, expected, atol=1e-5)
    assert distillation_loss(zs, zs, y, 2.0, 0.0).abs() < 1e-6  # identical teacher: KL = 0


def test_distillation_gradient_scale_is_comparable_across_temperatures():
    g = _gen(2)
    c = 10
    zt = torch.randn(4, c, generator=g) * 3
    zs0 = torch.randn(4, c, generator=g) * 3
    y = torch.zeros(4, dtype=torch.long)
    kd_norms, kl_norms = [], []
    for t in (4.0, 16.0, 64.0, 256.0):
        zs = zs0.clone().requires_grad_()
        distillation_loss(zs, zt, y, t, 0.0, reduction="sum").backward()
        kd_norms.append(zs.grad.norm().item())
        zs2 = zs0.clone().requires_grad_()
        F.kl_div(F.log_softmax(zs2 / t, -1), F.log_softmax(zt / t, -1), log_target=True,
                 reduction="sum").backward()
        kl_norms.append(zs2.grad.norm().item())
    # T²·KL keeps an O(1) gradient; KL alone shrinks like 1/T² (ratio 16 per factor 4 in T)
    assert max(kd_norms) / min(kd_norms) < 1.5
    for a, b in zip(kl_norms, kl_norms[1:]):
        assert a / b == pytest.approx(16.0, rel=0.1)


def test_distillation_large_t_limit_is_logit_matching():
    g = _gen(3)
    c = 6
    zt = torch.randn(5, c, generator=g, dtype=torch.float64)
    zs = torch.randn(5, c, generator=g, dtype=torch.float64).requires_grad_()
    y = torch.zeros(5, dtype=torch.long)
    t = 1e3
    loss = distillation_loss(zs, zt, y, t, 0.0, reduction="sum")
    loss.backward()
    u = (zs - zs.mean(-1, keepdim=True)) - (zt - zt.mean(-1, keepdim=True))  # centred gap
    # Hinton et al.: ∂/∂z_s → (z_s − z_t)/C for zero-mean logits; T²·KL → ‖u‖²/(2C)
    assert torch.allclose(zs.grad, u.detach() / c, atol=1e-3)
    assert loss.item() == pytest.approx((u.detach() ** 2).sum().item() / (2 * c), rel=1e-2)


def test_distillation_banked_matches_members_and_detaches_teacher():
    g = _gen(4)
    zs = torch.randn(6, 3, 4, generator=g).requires_grad_()
    zt = torch.randn(6, 4, generator=g).requires_grad_()
    y = torch.randint(0, 4, (6,), generator=g)
    taus, alphas = torch.tensor([1.0, 2.0, 5.0]), torch.tensor([0.0, 0.5, 0.9])
    banked = distillation_loss(zs, zt, y, taus, alphas)
    for k in range(3):
        alone = distillation_loss(zs[:, k], zt, y, float(taus[k]), float(alphas[k]))
        assert banked[k].item() == pytest.approx(alone.item(), abs=1e-6)
    expanded = distillation_loss(zs, zt.unsqueeze(1).expand(-1, 3, -1), y, taus, alphas)
    assert torch.allclose(banked, expanded)
    banked.sum().backward()
    assert zt.grad is None
    with pytest.raises(ValueError):
        distillation_loss(zs, zt, y, taus, 1.5)
    with pytest.raises(TemperatureError):
        distillation_loss(zs, zt, y, 0.0, 0.5)


# -- sampling ----------------------------------------------------------------------------------

def test_sampling_frequencies_match_tempered_softmax():
    z = torch.tensor([1.0, 0.2, -0.5, 2.0, 0.0, -1.5])
    tau = 0.7
    draws = sample_with_temperature(z.expand(N_DRAWS, -1), tau, generator=_gen(5))
    assert draws.shape == (N_DRAWS,) and draws.dtype == torch.long
    assert _chi2_p(draws, torch.softmax(z / tau, -1)) > P_MIN
    # the test has power: the same draws are rejected against the τ = 1 distribution
    assert _chi2_p(draws, torch.softmax(z, -1)) < 1e-6


def test_sampling_is_seeded_and_tau_zero_is_argmax():
    z = torch.randn(500, 9, generator=_gen(6))
    a = sample_with_temperature(z, 1.3, generator=_gen(7))
    b = sample_with_temperature(z, 1.3, generator=_gen(7))
    assert torch.equal(a, b)
    assert torch.equal(sample_with_temperature(z, 0.0), z.argmax(-1))
    assert torch.equal(sample_with_temperature(z, 0, top_k=3, top_p=0.5), z.argmax(-1))
    with pytest.raises(TemperatureError):
        sample_with_temperature(z, -0.1)


def test_sampling_per_member_temperatures_with_a_greedy_member():
    z = torch.tensor([[0.5, 0.0, -0.5, 1.0], [0.5, 0.0, -0.5, 1.0]])  # (K = 2, C)
    draws = sample_with_temperature(z.expand(N_DRAWS, -1, -1), torch.tensor([0.0, 2.0]),
                                    generator=_gen(8))
    assert draws.shape == (N_DRAWS, 2)
    assert bool((draws[:, 0] == 3).all())
    assert _chi2_p(draws[:, 1], torch.softmax(z[1] / 2.0, -1)) > P_MIN


def test_top_k_never_samples_outside_and_renormalises():
    z = torch.tensor([0.1, 2.0, -1.0, 1.5, 0.7, -0.2, 1.9])
    draws = sample_with_temperature(z.expand(N_DRAWS, -1), 1.5, top_k=3, generator=_gen(9))
    top = {1, 3, 6}
    assert set(draws.unique().tolist()) <= top
    probs = torch.zeros(7)
    probs[list(top)] = torch.softmax(z[list(top)] / 1.5, -1)
    assert _chi2_p(draws, probs) > P_MIN


def test_top_p_keeps_the_smallest_set_with_enough_mass():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    z = probs.log()
    for p, kept in ((0.4, {0}), (0.75, {0, 1}), (0.85, {0, 1, 2}), (1.0, {0, 1, 2, 3})):
        removed = top_k_top_p_mask(z, top_p=p)
        assert {i for i in range(4) if not removed[i]} == kept
    g = _gen(10)
    for _ in range(20):
        logits = torch.randn(12, generator=g) * 2
        p = float(torch.rand((), generator=g))
        pr = torch.softmax(logits.double(), -1)
        keep = ~top_k_top_p_mask(logits, top_p=p)
        assert pr[keep].sum() >= p - 1e-12
        assert pr[keep].min() >= pr[~keep].max() if (~keep).any() else True
        assert pr[keep].sum() - pr[keep].min() < p  # minimal: dropping one falls below p
    draws = sample_with_temperature(z.expand(2000, -1), 1.0, top_p=0.75, generator=_gen(11))
    assert set(draws.unique().tolist()) <= {0, 1}


# -- Gumbel-softmax ----------------------------------------------------------------------------

def test_gumbel_soft_is_on_the_simplex_and_hard_is_one_hot():
    z = torch.randn(64, 3, 5, generator=_gen(12))
    soft = gumbel_softmax(z, torch.tensor([0.5, 1.0, 2.0]), generator=_gen(13))
    assert soft.shape == z.shape and bool((soft >= 0).all())
    assert torch.allclose(soft.sum(-1), torch.ones(64, 3), atol=1e-6)
    hard = gumbel_softmax(z, torch.tensor([0.5, 1.0, 2.0]), hard=True, generator=_gen(13))
    assert torch.equal(hard.sum(-1), torch.ones(64, 3))
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(hard.argmax(-1), soft.argmax(-1))


def test_gumbel_straight_through_gradient_equals_soft_gradient():
    z0 = torch.randn(32, 6, generator=_gen(14))
    w = torch.randn(32, 6, generator=_gen(15))
    grads = []
    for hard in (False, True):
        z = z0.clone().requires_grad_()
        (gumbel_softmax(z, 0.8, hard=hard, generator=_gen(16)) * w).sum().backward()
        grads.append(z.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
    assert grads[0].abs().sum() > 0


def test_gumbel_cold_limit_is_one_hot():
    z = torch.randn(2000, 4, generator=_gen(17))
    conf = [gumbel_softmax(z, t, generator=_gen(18)).max(-1).values.mean().item()
            for t in (2.0, 0.5, 0.01)]
    assert conf[0] < conf[1] < conf[2]
    assert conf[2] > 0.99


def test_gumbel_max_frequencies_match_softmax():
    z = torch.tensor([0.3, -1.0, 1.2, 0.0, 0.5])
    y = gumbel_softmax(z.expand(N_DRAWS, -1), 3.0, generator=_gen(19))
    assert _chi2_p(y.argmax(-1), torch.softmax(z, -1)) > P_MIN  # argmax ignores τ


def test_gumbel_temperature_schedule():
    assert gumbel_temperature_schedule(0) == 1.0
    assert gumbel_temperature_schedule(1000, rate=1e-4) == pytest.approx(math.exp(-0.1))
    assert gumbel_temperature_schedule(10**7, rate=1e-4) == 0.5  # floor
    assert gumbel_temperature_schedule(1499, rate=1e-4, every=500) == pytest.approx(
        math.exp(-0.1))
    values = [gumbel_temperature_schedule(s, start=2.0, floor=0.1, rate=1e-3)
              for s in range(0, 5000, 250)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    module = GumbelSoftmax(1.0, rate=1e-4, floor=0.5)
    assert module.anneal(10**6) == 0.5 and module.temperature == 0.5
    with pytest.raises(ValueError):
        gumbel_temperature_schedule(-1)


# -- InfoNCE / NT-Xent -------------------------------------------------------------------------

def test_info_nce_at_tau_one_is_cross_entropy_over_similarities():
    g = _gen(20)
    q, k = torch.randn(8, 16, generator=g), torch.randn(12, 16, generator=g)
    sim = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).T
    target = torch.arange(8)
    assert torch.allclose(info_nce(q, k, 1.0), F.cross_entropy(sim, target), atol=1e-6)
    assert torch.allclose(info_nce(q, k, 0.07), F.cross_entropy(sim / 0.07, target), atol=1e-5)
    dot = info_nce(q, k, 1.0, normalize=False)
    assert torch.allclose(dot, F.cross_entropy(q @ k.T, target), atol=1e-5)


def test_info_nce_banked_matches_members():
    g = _gen(21)
    q, k = torch.randn(6, 3, 8, generator=g), torch.randn(6, 3, 8, generator=g)
    taus = torch.tensor([0.05, 0.2, 1.0])
    banked = info_nce(q, k, taus)
    assert banked.shape == (3,)
    for m in range(3):
        assert banked[m].item() == pytest.approx(info_nce(q[:, m], k[:, m], float(taus[m])).item(),
                                                 rel=1e-5)
    assert torch.allclose(InfoNCELoss(taus)(q, k), banked)


def test_nt_xent_hand_case_and_reference():
    e = torch.eye(2, dtype=torch.float64)
    for tau in (0.1, 0.5, 1.0):
        # views identical: positive similarity 1, two orthogonal negatives per anchor
        assert nt_xent(e, e, tau).item() == pytest.approx(math.log(1 + 2 * math.exp(-1 / tau)),
                                                          rel=1e-5)
    g = _gen(22)
    z1, z2 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    losses = []
    for i in range(10):
        j = (i + 5) % 10
        others = [m for m in range(10) if m != i]
        logits = torch.stack([z[i] @ z[m] for m in others]) / 0.3
        losses.append(-(z[i] @ z[j] / 0.3 - torch.logsumexp(logits, 0)))
    assert nt_xent(z1, z2, 0.3).item() == pytest.approx(torch.stack(losses).mean().item(),
                                                        rel=1e-5)
    assert NTXentLoss(0.3)(z1, z2).item() == pytest.approx(nt_xent(z1, z2, 0.3).item())
    zb = torch.stack([z1, z1 * 2], dim=1)
    assert torch.allclose(nt_xent(zb, torch.stack([z2, z2], 1), 0.3)[0], nt_xent(z1, z2, 0.3))


def test_distillation_module_matches_function():
    g = _gen(23)
    zs, zt = torch.randn(4, 2, 3, generator=g), torch.randn(4, 3, generator=g)
    y = torch.randint(0, 3, (4,), generator=g)
    assert torch.allclose(DistillationLoss([2.0, 4.0], 0.1)(zs, zt, y),
                          distillation_loss(zs, zt, y, torch.tensor([2.0, 4.0]), 0.1))
