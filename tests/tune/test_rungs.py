"""Rung plans and the ranking rule, on synthetic learning curves with a known slow starter."""

from __future__ import annotations

import numpy as np
import pytest

from tempcheck.errors import ConfigError
from tempcheck.tune.rungs import Rung, make_plan, parse_plan, plan_cost, select

EPOCHS = 30
t = np.arange(1, EPOCHS + 1, dtype=float)
# a fast starter that plateaus at 0.95, a slow starter that ends best (0.99), two poor members
FAST = 0.95 - 0.45 * np.exp(-t / 1.0)
SLOW = 0.99 - 0.60 * np.exp(-t / 3.0)
POOR = 0.70 - 0.50 * np.exp(-t / 2.0)
FLAT = np.full_like(t, 0.30)
CURVES = np.stack([FAST, SLOW, POOR, FLAT], axis=1)  # (E, M)
NOTIE = np.zeros_like(CURVES)


def _run(rule, plan):
    alive = list(range(CURVES.shape[1]))
    for i, rung in enumerate(plan):
        nxt = plan[i + 1].epoch if i + 1 < len(plan) else None
        sel = select(CURVES[: rung.epoch, alive], NOTIE[: rung.epoch, alive], keep=rung.keep,
                     epoch=rung.epoch, next_epoch=nxt, rule=rule)
        alive = [alive[j] for j in sel.kept]
    return alive


def test_raw_ranking_at_an_early_rung_drops_the_slow_starter():
    plan = [Rung(4, 1), Rung(12, 1)]
    assert SLOW[3] < FAST[3] and SLOW[-1] > FAST[-1]  # the trap is there
    assert _run("raw", plan) == [0]  # the fast starter, the wrong choice


def test_catchup_rule_keeps_the_slow_starter_and_chooses_it_later():
    plan = [Rung(4, 1), Rung(12, 1)]
    assert _run("catchup", plan) == [1]


def test_a_flat_member_below_the_cut_is_never_protected():
    sel = select(CURVES[:4], NOTIE[:4], keep=1, epoch=4, next_epoch=12, rule="catchup", protect=3)
    assert 3 not in sel.kept and sel.catch_up[3] == float("inf")
    assert 1 in sel.protected  # the steep climber is
    # the catch-up time is the gap to the cut over the least-squares trend of the last 3 epochs
    slope = np.polyfit([0, 1, 2], SLOW[1:4], 1)[0]
    assert sel.catch_up[1] == pytest.approx((FAST[3] - SLOW[3]) / slope)


def test_no_protection_at_the_last_rung():
    sel = select(CURVES[:12], NOTIE[:12], keep=1, epoch=12, next_epoch=None, rule="catchup")
    assert sel.protected == [] and len(sel.kept) == 1


def test_ties_are_broken_by_the_secondary_score():
    primary = np.array([[0.90, 0.905, 0.80]])
    secondary = np.array([[-0.1, -0.3, 0.0]])  # member 0 has the better tie-breaker
    sel = select(primary, secondary, keep=1, epoch=1, next_epoch=None, tie=0.01)
    assert sel.order == [0, 1, 2]
    sel = select(primary, secondary, keep=1, epoch=1, next_epoch=None, tie=0.0)
    assert sel.order == [1, 0, 2]


@pytest.mark.parametrize("members,epochs,budget,reduction", [
    (7, 30, 0.35, 2), (7, 30, 0.35, 3), (5, 10, 0.5, 2), (16, 50, 0.2, 3)])
def test_plan_fits_the_budget_and_decides_as_late_as_it_can(members, epochs, budget, reduction):
    plan = make_plan(members, epochs, budget=budget, reduction=reduction, protect=1)
    assert plan[-1].keep == 1
    assert all(a.epoch < b.epoch and a.keep > b.keep for a, b in zip(plan, plan[1:]))
    assert plan_cost(plan, members, epochs, False, 1) <= budget * members * epochs
    # one epoch later for the first rung would not fit (or would not be a plan)
    later = [Rung(int(round((plan[0].epoch + 1) * reduction ** i)), r.keep)
             for i, r in enumerate(plan)]
    if later[-1].epoch <= epochs:
        assert plan_cost(later, members, epochs, False, 1) > budget * members * epochs


def test_plan_cost_counts_member_epochs():
    plan = [Rung(4, 4), Rung(8, 2), Rung(16, 1)]
    assert plan_cost(plan, 7, 30, False) == 7 * 4 + 4 * 4 + 2 * 8
    assert plan_cost(plan, 7, 30, True) == 7 * 4 + 4 * 4 + 2 * 8 + 14
    assert plan_cost(plan, 7, 30, False, protect=1) == 7 * 4 + 5 * 4 + 3 * 8


def test_bad_plans_are_one_line_errors():
    with pytest.raises(ConfigError, match="below one rung"):
        make_plan(7, 30, budget=0.02)
    with pytest.raises(ConfigError, match="at least 2"):
        make_plan(1, 30, budget=0.35)
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        make_plan(7, 30, budget=1.5)
    for spec in ("4:3,2:1", "4:7", "40:1", "four"):
        with pytest.raises(ConfigError):
            parse_plan(spec, 7, 30)
    assert parse_plan("4:3,12:1", 7, 30) == [Rung(4, 3), Rung(12, 1)]
