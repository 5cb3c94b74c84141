"""Rungs of a successive-halving search inside one bank, and the rule that ranks members there.

A plan is a list of rungs ``(epoch, keep)``: after ``epoch`` epochs of training the members are
ranked and only the best ``keep`` go on. Since every member of a bank trains on the same batches
under the same schedule, members can be compared at any epoch; what costs is member-epochs, one
per member per epoch trained, and a full sweep of n temperatures over E epochs costs n·E.

The trap (docs/theory.md, "early learning"): τ sets how fast a member starts — early on the
logits move at a rate ∝ η/τ² — so a member with a larger τ can trail at the first rungs and
finish best. Ranking on the raw objective at an early epoch discards it. The defences:
  * rungs as late as the budget allows (:func:`make_plan` picks the latest first rung);
  * the rule ``"catchup"`` (default) keeps, besides the best ``keep``, up to ``protect`` members
    from below the cut whose current trend reaches the cut's score before the next rung — a
    slow starter is climbing steeply, a member that has flattened out is not (the plan budgets
    for them);
  * ``smooth`` epochs of averaging, and members within ``tie`` of each other ordered by a
    continuous secondary score (validation NLL after temperature scaling), so the ties of
    accuracy on a small validation set are not decided by chance.
``tests/tune/test_rungs.py`` checks the rule on synthetic learning curves with a known slow
starter; ``tempcheck.tune.replay`` measures how often each rule would have been wrong on the
logged curves of a real sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

RULES = ("catchup", "raw")


@dataclass(frozen=True)
class Rung:
    epoch: int  # epochs trained when the members are ranked
    keep: int  # members that go on


def plan_cost(plan: list[Rung], members: int, epochs: int, finish: bool, protect: int = 0) -> int:
    """Member-epochs a plan spends at most: every member trains until it is dropped (``protect``
    extra members may survive each rung but the last); with ``finish`` the last survivor trains
    on to ``epochs``, otherwise training stops at the last rung."""
    cost, alive, last = 0, members, 0
    for i, rung in enumerate(plan):
        cost += alive * (rung.epoch - last)
        extra = protect if i < len(plan) - 1 else 0
        alive, last = min(alive, rung.keep + extra), rung.epoch
    if finish:
        cost += alive * (epochs - last)
    return cost


def make_plan(members: int, epochs: int, *, budget: float, reduction: float = 3.0,
              finish: bool = False, protect: int = 0) -> list[Rung]:
    """The rung plan that spends at most ``budget`` (a fraction of the full sweep's
    ``members × epochs`` member-epochs) while deciding as late as it can.

    Each rung keeps ``ceil(alive / reduction)`` members until one is left; the rung epochs grow
    geometrically by ``reduction`` from a first rung ``r1``, and ``r1`` is the largest whole
    number of epochs whose plan fits the budget (a late first rung is what protects slow
    starters). Raises ConfigError when not even ``r1 = 1`` fits, or when one member is given."""
    if members < 2:
        raise ConfigError(f"tune needs at least 2 temperatures to choose from, got {members}")
    if not 0 < budget <= 1:
        raise ConfigError(f"tune budget is a fraction of the full sweep in (0, 1], got {budget}")
    if reduction <= 1:
        raise ConfigError(f"tune reduction must be > 1, got {reduction}")
    keeps = []
    alive = members
    while alive > 1:
        alive = max(1, math.ceil(alive / reduction))
        keeps.append(alive)
    limit = budget * members * epochs
    best = None
    for r1 in range(1, epochs + 1):
        rung_epochs = [int(round(r1 * reduction ** i)) for i in range(len(keeps))]
        rung_epochs = sorted(set(min(e, epochs) for e in rung_epochs))
        if len(rung_epochs) < len(keeps):  # rungs collided at the last epoch: too late
            break
        plan = [Rung(e, k) for e, k in zip(rung_epochs, keeps)]
        if plan_cost(plan, members, epochs, finish, protect) > limit:
            break
        best = plan
    if best is None:
        need = plan_cost([Rung(1, keeps[0])] + [Rung(min(epochs, int(round(reduction ** i))), k)
                                                for i, k in enumerate(keeps[1:], 1)],
                         members, epochs, finish, protect) / (members * epochs)
        raise ConfigError(f"tune budget {budget:g} is below one rung: even a first rung after one "
                          f"epoch needs {need:.2f} of the full sweep's member-epochs")
    return best


def parse_plan(spec: str, members: int, epochs: int) -> list[Rung]:
    """``"4:3,12:2,22:1"`` → rungs (epoch:keep), checked: epochs increasing within 1..E, keep
    decreasing, the first keep below ``members``."""
    rungs = []
    try:
        for part in spec.split(","):
            e, k = part.split(":")
            rungs.append(Rung(int(e), int(k)))
    except ValueError:
        raise ConfigError(f"tune rungs are epoch:keep pairs like 4:3,12:1, got {spec!r}") from None
    prev_e, prev_k = 0, members
    for r in rungs:
        if not prev_e < r.epoch <= epochs or not 1 <= r.keep < prev_k:
            raise ConfigError(f"bad tune rungs {spec!r}: epochs must rise within 1..{epochs} and "
                              f"members kept must fall below {members}")
        prev_e, prev_k = r.epoch, r.keep
    return rungs


def smoothed(curve: np.ndarray, smooth: int) -> float:
    """Mean of the last ``smooth`` finite values of a 1-d curve (NaN when none)."""
    values = curve[np.isfinite(curve)][-max(1, smooth):]
    return float(values.mean()) if values.size else float("nan")


def trend(curve: np.ndarray, window: int = 3) -> float:
    """Least-squares slope per epoch of the last ``window`` finite values (0 when fewer than 2)."""
    y = curve[np.isfinite(curve)][-max(2, window):]
    if y.size < 2:
        return 0.0
    return float(np.polyfit(np.arange(y.size, dtype=float), y, 1)[0])


@dataclass(frozen=True)
class Selection:
    """The outcome of one rung: ``order`` (positions, best first, on the smoothed score with
    ties broken by the secondary score), ``kept`` (positions that go on), ``protected`` (kept
    although below the cut, because they are catching up), each member's ``score`` and
    ``catch_up`` (epochs it needs at its current trend to reach the cut; inf when not rising)."""

    order: list[int]
    kept: list[int]
    protected: list[int]
    scores: list[float]
    catch_up: list[float]


def select(primary: np.ndarray, secondary: np.ndarray, *, keep: int, epoch: int,
           next_epoch: int | None, rule: str = "catchup", smooth: int = 1, tie: float = 0.0,
           protect: int = 1, window: int = 3) -> Selection:
    """Rank the members at a rung and choose who goes on.

    Args:
        primary: ``(T, M)`` higher-is-better objective of M members over the T epochs trained.
        secondary: ``(T, M)`` higher-is-better tie-breaker (−NLL after temperature scaling).
        keep: members kept on merit (the best ``keep`` of the order).
        epoch, next_epoch: this rung's epoch and the next rung's (None at the last rung: no
            member is protected, the decision is final).
        rule: ``"catchup"`` (default) also keeps up to ``protect`` members from below the cut
            whose trend over the last ``window`` epochs reaches the cut's score before the next
            rung — the slow starters; ``"raw"`` keeps the best ``keep`` only.
        tie: scores closer than this count as equal and are ordered by the secondary score.
    """
    if rule not in RULES:
        raise ConfigError(f"unknown tune rule {rule!r}; use {', '.join(RULES)}")
    m = primary.shape[1]
    scores = [smoothed(primary[:, j], smooth) for j in range(m)]
    second = [smoothed(secondary[:, j], smooth) for j in range(m)]
    s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    t2 = np.nan_to_num(np.asarray(second, dtype=float), nan=-np.inf)
    # members within ``tie`` of the best remaining score form a group ordered by the secondary
    # score; repeat on what is left (no bucket edges: a group is anchored at its best member)
    left = sorted(range(m), key=lambda j: -s[j])
    order: list[int] = []
    while left:
        top = s[left[0]]
        group = [j for j in left if s[j] >= top - tie] if tie > 0 else [left[0]]
        group.sort(key=lambda j: (-t2[j], -s[j]))
        order += group
        left = [j for j in left if j not in group]
    kept = order[:keep]
    cut = s[kept[-1]] if kept else -np.inf
    catch_up = []
    for j in range(m):
        slope = trend(primary[:, j], window)
        gap = cut - s[j]
        rising = slope > 1e-9  # a flat curve fits a slope of rounding noise, not a trend
        catch_up.append(0.0 if gap <= 0 else (gap / slope if rising else float("inf")))
    protected: list[int] = []
    if rule == "catchup" and next_epoch is not None and protect > 0:
        below = [j for j in order[keep:] if epoch + catch_up[j] <= next_epoch]
        protected = sorted(below, key=lambda j: catch_up[j])[:protect]
    return Selection(order, kept + protected, protected, scores, catch_up)
