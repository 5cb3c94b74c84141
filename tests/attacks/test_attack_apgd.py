"""APGD / APGD-T (Croce & Hein 2020): checkpoint schedule, threat model, strength, and bank
equivalence."""

from __future__ import annotations

import math

import pytest
import torch
from helpers_attacks import ScaledLogits, digit_batch, digits, member_alone, small_bank

from tempcheck.attacks import APGD, APGDT, PGD, checkpoints


def _bank():
    return small_bank(2)


def _batch(n: int = 40):
    return digit_batch(n)


def _robust(model, x_adv, y) -> torch.Tensor:
    with torch.no_grad():
        return (model(x_adv).argmax(-1) == y[:, None]).float().mean(0)


def test_checkpoints_follow_the_papers_recursion():
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (then 1.05 > 1): w_j = ceil(p_j N)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    for n in (10, 37, 250):
        w = checkpoints(n)
        assert w[0] == math.ceil(0.22 * n) and w[-1] <= n
        assert all(b > a for a, b in zip(w, w[1:]))
        assert all(b - a >= math.floor(0.06 * n) for a, b in zip(w, w[1:]))


class _Constant(torch.nn.Module):
    """Logits that ignore the input: the loss can never rise."""

    members = 2

    def forward(self, x):
        flat = x.flatten(2).sum(-1, keepdim=True)  # (B, K, 1): keeps x in the graph
        return 0.0 * flat + torch.tensor([3.0, 0.0, 1.0, 2.0])


def test_step_size_halves_at_every_checkpoint_when_the_loss_never_rises():
    x = torch.rand(5, 1, 4, 4)
    y = torch.zeros(5, dtype=torch.long)  # always classified correctly: never stops early
    attack = APGD(_Constant(), eps=0.1, steps=100, loss="dlr")
    attack(x, y)
    assert torch.allclose(attack.step_size, torch.full((5, 2), 0.2 / 2 ** 8))


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.8)])
def test_apgd_stays_in_the_ball_and_the_unit_box(norm, eps):
    x, y = _batch()
    for attack in (APGD(_bank(), eps=eps, norm=norm, steps=10, loss="ce_raw"),
                   APGDT(_bank(), eps=eps, norm=norm, steps=10, n_target_classes=3)):
        x_adv = attack(x, y)
        delta = (x_adv - x[:, None]).flatten(2)
        size = delta.abs().amax(-1) if norm == "linf" else delta.norm(dim=-1)
        assert size.max() <= eps * (1 + 1e-5)
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_apgd_is_at_least_as_strong_as_pgd_on_an_undefended_model():
    model = _bank()
    x, y = _batch()
    pgd = _robust(model, PGD(model, eps=0.1, steps=20, loss="ce_raw")(x, y), y)
    apgd = _robust(model, APGD(model, eps=0.1, steps=40, loss="ce_raw")(x, y), y)
    assert (apgd <= pgd + 0.05).all()
    assert (apgd < _robust(model, x[:, None].expand(-1, 2, -1, -1, -1), y) - 0.3).all()


def test_apgd_t_breaks_huge_logits_that_fool_apgd_ce():
    model = ScaledLogits(_bank(), [1e4, 1e4])
    x, y = _batch()
    clean = _robust(model, x[:, None].expand(-1, 2, -1, -1, -1), y)
    ce = _robust(model, APGD(model, eps=0.1, steps=20, loss="ce_raw")(x, y), y)
    dlr_t = _robust(model, APGDT(model, eps=0.1, steps=20, n_target_classes=3)(x, y), y)
    assert (ce >= clean - 0.1).all()  # CE gradients vanish: almost nothing breaks
    assert (dlr_t < clean - 0.3).all()


@pytest.mark.parametrize("targeted", [False, True])
def test_banked_apgd_equals_attacking_each_member_alone(targeted):
    bank = _bank()
    data = digits()
    x, y = _batch(24)
    tau = torch.tensor([0.5, 2.0])

    def make(model, t):
        if targeted:
            return APGDT(model, eps=0.1, steps=8, n_target_classes=3, seed=5)
        return APGD(model, eps=0.1, steps=8, restarts=2, temperatures=t, seed=5)

    banked = make(bank, tau)(x, y)
    for k in range(2):
        alone = member_alone(bank, k, hidden=(16,), **data.model_kwargs())
        single = make(alone, tau[k : k + 1])(x, y)
        assert torch.allclose(banked[:, k], single[:, 0], atol=1e-6)
