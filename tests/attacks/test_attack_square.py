"""Square attack (Andriushchenko et al. 2020): p schedule, threat model, query budget, immunity
to vanishing gradients, bank equivalence."""

from __future__ import annotations

import functools

import pytest
import torch
from helpers_attacks import ScaledLogits, digits, member_alone, trained_bank

from tempcheck.attacks import Square, p_schedule


@functools.lru_cache(maxsize=None)
def _bank():
    return trained_bank(members=2, steps=150)


def _batch(n: int = 40):
    data = digits()
    return data.test.x[:n], data.test.y[:n]


def test_p_schedule_halves_at_the_papers_iterations():
    assert p_schedule(0.8, 0, 10_000) == 0.8
    assert p_schedule(0.8, 10, 10_000) == 0.8
    assert p_schedule(0.8, 11, 10_000) == 0.4
    assert p_schedule(0.8, 201, 10_000) == 0.1
    assert p_schedule(0.8, 9999, 10_000) == pytest.approx(0.8 / 512)
    # a 5,000-query budget runs the same schedule twice as fast
    assert p_schedule(0.8, 6, 5000) == 0.4 and p_schedule(0.8, 5, 5000) == 0.8


def test_square_stays_in_the_ball_and_within_budget():
    model = _bank()
    x, y = _batch()
    attack = Square(model, eps=0.1, queries=60)
    x_adv = attack(x, y)
    assert x_adv.shape == (40, 2, 1, 8, 8)
    assert (x_adv - x[:, None]).abs().max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert attack.n_queries.max() <= 60 and attack.n_queries.min() >= 1
    with pytest.raises(ValueError, match="L∞"):
        Square(model, eps=0.5, norm="l2")


def test_square_breaks_huge_logits_without_gradients():
    plain = _bank()
    model = ScaledLogits(plain, [1e4, 1e4])
    x, y = _batch()
    with torch.no_grad():
        clean = (model(x).argmax(-1) == y[:, None]).float().mean(0)
        adv = Square(model, eps=0.15, queries=300, seed=1)(x, y)
        robust = (model(adv).argmax(-1) == y[:, None]).float().mean(0)
    assert (robust < clean - 0.3).all()
    # only the margin's sign of improvement matters: scaling the logits changes nothing
    assert torch.allclose(adv, Square(plain, eps=0.15, queries=300, seed=1)(x, y))


def test_banked_square_equals_attacking_each_member_alone():
    bank = _bank()
    data = digits()
    x, y = _batch(24)
    banked = Square(bank, eps=0.1, queries=80, seed=2)(x, y)
    for k in range(2):
        alone = member_alone(bank, k, hidden=(), **data.model_kwargs())
        single = Square(alone, eps=0.1, queries=80, seed=2)(x, y)
        assert torch.allclose(banked[:, k], single[:, 0], atol=1e-6)
