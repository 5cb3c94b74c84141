"""Early exit and suites: attacking only some (example, member) pairs (packed per member) gives
exactly what attacking everything gives on those pairs, keeps bank equivalence, and a suite's
worst case is the per-example AND of its attacks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tempcheck.attacks import APGD, APGDT, PGD, Square
from tempcheck.attacks.apgd import default_target_count
from tempcheck.attacks.base import Packing
from tempcheck.attacks.suite import SuiteSettings, attack_batches, build_suite, run_suite

sys.path.insert(0, str(Path(__file__).parent))
from helpers_attacks import digit_batch, digits, member_alone, small_bank  # noqa: E402


def _bank():
    return small_bank(3)


def _batch(n: int = 30):
    return digit_batch(n)


def _active(n: int, k: int = 3) -> torch.Tensor:
    """A ragged mask: members have different numbers of active examples, one has none."""
    g = torch.Generator().manual_seed(7)
    mask = torch.rand((n, k), generator=g) < torch.tensor([0.7, 0.3, 0.0])
    return mask


def test_packing_round_trips_and_keeps_each_members_order():
    active = torch.tensor([[1, 0], [0, 0], [1, 1], [1, 0]], dtype=torch.bool)
    p = Packing.identity(4, 2).pack(active)
    assert p.rows.shape == (3, 2)  # B' = the largest count (member 0: 3 examples)
    assert p.rows[:, 0].tolist() == [0, 2, 3] and p.rows[0, 1] == 2
    assert p.valid.tolist() == [[True, True], [True, False], [True, False]]
    t = torch.arange(8.0).view(4, 2)
    packed = p.gather(t)
    back = p.scatter(torch.full_like(t, -1.0), packed)
    assert torch.equal(back[active], t[active]) and (back[~active] == -1).all()
    # packing a packed batch again keeps the original example ids (for the random draws)
    inner = p.pack(torch.tensor([[0, 1], [1, 0], [1, 0]], dtype=torch.bool))
    assert inner.ids[:, 0].tolist() == [2, 3] and inner.ids[0, 1] == 2 and inner.examples == 4


@pytest.mark.parametrize("make", [
    lambda m: PGD(m, eps=0.1, steps=6, loss="margin", seed=3),
    lambda m: APGD(m, eps=0.1, steps=8, loss="ce_raw", restarts=2, seed=4),
    lambda m: APGDT(m, eps=0.1, steps=6, n_target_classes=3, seed=5),
    lambda m: Square(m, eps=0.1, queries=40, seed=6),
], ids=["pgd", "apgd", "apgd_t", "square"])
def test_attacking_only_the_active_pairs_equals_attacking_everything(make):
    model = _bank()
    x, y = _batch()
    active = _active(x.shape[0])
    full = make(model)(x, y)
    part = make(model)(x, y, active=active)
    assert torch.allclose(part[active], full[active], atol=1e-6)
    assert torch.equal(part[~active], x[:, None].expand_as(full)[~active])  # untouched


def test_early_exit_keeps_bank_equivalence():
    bank = _bank()
    data = digits()
    x, y = _batch(24)
    active = _active(24)
    banked = APGDT(bank, eps=0.1, steps=6, n_target_classes=3, seed=9)(x, y, active=active)
    for k in range(2):  # member 2 has nothing to attack
        alone = member_alone(bank, k, hidden=(16,), **data.model_kwargs())
        single = APGDT(alone, eps=0.1, steps=6, n_target_classes=3, seed=9)(
            x, y, active=active[:, k : k + 1])
        assert torch.allclose(banked[:, k], single[:, 0], atol=1e-6)


def test_pgd_history_comes_back_in_the_callers_layout():
    model = _bank()
    x, y = _batch()
    active = _active(x.shape[0])
    attack = PGD(model, eps=0.1, steps=5, loss="margin", seed=3)
    attack(x, y, active=active)
    assert attack.history.shape == (6, x.shape[0], 3)
    assert not attack.history[:, ~active].any()


def test_fewer_targets_for_few_classes():
    assert [default_target_count(c) for c in (3, 4, 5, 10, 11, 19, 100, 1000)] == \
        [2, 3, 3, 5, 5, 9, 9, 9]


@pytest.mark.parametrize("suite", ["auto", "standard", "quick"])
def test_a_suites_worst_case_is_the_per_example_and_of_its_attacks(suite):
    model = _bank()
    x, y = _batch()
    tau = torch.ones(3)
    settings = SuiteSettings(eps=0.1, alpha=0.025, steps=4, apgd_steps=6, apgd_targets=2,
                             square_queries=30, seed=1)
    with torch.no_grad():
        correct = model(x).argmax(-1) == y[:, None]
    plan = build_suite(suite, model, settings, tau, num_classes=10)
    found = run_suite(plan, model, x, y, correct, batch=11, device="cpu")
    expected = correct.clone()
    for p in build_suite(suite, model, settings, tau, num_classes=10):  # fresh seeds
        ok, _ = attack_batches(p.attack, model, x, y, 11, "cpu")  # every example, same batches
        expected &= ok
    assert torch.equal(found.worst, expected)
    names = [p.name for p in plan]
    assert list(found.worst_upto) == names and torch.equal(found.worst_upto[names[-1]],
                                                           found.worst)
    survivors = {p.name for p in plan if p.survivors_only}
    assert set(found.robust) == set(names) - survivors
    assert survivors == ({"apgd_ce", "apgd_t", "square"} if suite == "auto" else set())
