"""Attack suites: which attacks run, in which order, on which examples (docs/theory.md §5).

A robust-accuracy figure is only as good as the strongest attack behind it, and fixed-step PGD
on a single loss is not strong: on the digits cnn, PGD-20 with CE, margin and DLR together
left up to 12 points more examples "robust" than targeted APGD-DLR. The default suite is
therefore AutoAttack-like (Croce & Hein 2020): parameter-free APGD on two losses, then targeted
APGD-DLR and the gradient-free Square attack on whatever is still robust.

Suites (``SUITES``):

- ``"auto"`` (default). On every example: FGSM (CE at τ) and PGD-``steps`` on CE at τ, CE on
  raw logits, margin and DLR — cheap, and what the masking diagnostics compare at equal budget.
  Then, each only on the (example, member) pairs still robust after the attacks before it
  (early exit, packed per member, see ``attacks.base``): APGD-CE (CE at τ), APGD-T (targeted DLR
  against the top ``default_target_count(C)`` classes), Square (L∞, black-box).
- ``"standard"``: the same attacks plus APGD-DLR (untargeted, APGD-CE's equal-budget partner),
  each on every example, so every attack has its own robust accuracy (the reference the
  ``auto`` suite is checked against; slower).
- ``"quick"``: FGSM and the four PGD attacks only. Cheap and known to overstate robustness: its
  worst case is reported as an upper bound (``CHEAP_SUITES``) and never backs a verdict of
  robust.

The per-example worst case is the same whether an attack runs on every example or only on the
survivors: an example broken earlier is broken whatever the later attacks do, and an attack's
result on one (example, member) pair does not depend on which other pairs it attacks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from .apgd import APGD, APGDT, default_target_count
from .base import Attack
from .fgsm import FGSM
from .pgd import PGD
from .square import Square

SUITES = ("auto", "standard", "quick")
CHEAP_SUITES = ("quick",)
PGD_LOSSES = ("ce_tau", "ce_raw", "margin", "dlr")


@dataclass(frozen=True)
class SuiteSettings:
    """Budgets of a suite's attacks. ``apgd_targets`` None: ``default_target_count(C)``."""

    eps: float
    alpha: float
    steps: int = 20
    restarts: int = 1
    apgd_steps: int = 100
    apgd_restarts: int = 1
    apgd_targets: int | None = None
    square_queries: int = 5000
    seed: int = 0


@dataclass(frozen=True)
class Planned:
    """One attack of a suite: its column name, the attack, and whether it runs only on the
    pairs still robust after the attacks before it (early exit)."""

    name: str
    attack: Attack
    survivors_only: bool


def build_suite(suite: str, model, settings: SuiteSettings, temperatures,
                num_classes: int) -> list[Planned]:
    """The attacks of ``suite`` in run order, each with its own seed."""
    if suite not in SUITES:
        raise ValueError(f"attack suite must be one of {SUITES}, got {suite!r}")
    s, tau = settings, temperatures
    common = dict(eps=s.eps, temperatures=tau)
    plan = [Planned("fgsm", FGSM(model, loss="ce_tau", seed=s.seed, **common), False)]
    for i, loss in enumerate(PGD_LOSSES, start=1):
        plan.append(Planned(f"pgd_{loss}", PGD(
            model, loss=loss, alpha=s.alpha, steps=s.steps, restarts=s.restarts,
            seed=s.seed + i, **common), False))
    if suite in CHEAP_SUITES:
        return plan
    apgd = dict(steps=s.apgd_steps, restarts=s.apgd_restarts, **common)
    targets = s.apgd_targets if s.apgd_targets is not None else default_target_count(num_classes)
    cascade = suite == "auto"
    plan.append(Planned("apgd_ce", APGD(model, loss="ce_tau", seed=s.seed + 11, **apgd),
                        cascade))
    if not cascade:  # the equal-budget partner of APGD-CE; APGD-T covers DLR in the cascade
        plan.append(Planned("apgd_dlr", APGD(model, loss="dlr", seed=s.seed + 14, **apgd), False))
    plan += [
        Planned("apgd_t", APGDT(model, n_target_classes=targets, seed=s.seed + 12, **apgd),
                cascade),
        Planned("square", Square(model, eps=s.eps, queries=s.square_queries, seed=s.seed + 13),
                cascade),
    ]
    return plan


@dataclass
class SuiteResult:
    """What a suite found on N examples of a K-member bank.

    ``robust[name]`` ``(N, K)``: correct and not broken by that attack, for the attacks run on
    every example. ``worst`` ``(N, K)``: robust to every attack (the per-example worst case).
    ``worst_upto[name]``: the worst case after the attacks up to and including ``name`` (for
    every attack, in run order). ``white_box`` ``(N, K)``: the worst case over the gradient
    attacks only (gradient-free attacks come last). ``seconds[name]``: wall time.
    ``logits[name]`` ``(N, K, C)``: adversarial logits, kept for the attacks named in
    ``keep_logits``.
    """

    robust: dict[str, torch.Tensor] = field(default_factory=dict)
    worst: torch.Tensor | None = None
    worst_upto: dict[str, torch.Tensor] = field(default_factory=dict)
    white_box: torch.Tensor | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    logits: dict[str, torch.Tensor] = field(default_factory=dict)


def attack_batches(attack: Attack, model, x, y, batch: int, device,
                   active: torch.Tensor | None = None):
    """Run ``attack`` over ``x`` (N, ...) in batches of ``batch`` examples, on the ``active``
    ``(N, K)`` pairs only when given; returns (robust (N, K) bool: still classified correctly,
    adversarial logits (N, K, C)), on the CPU."""
    robust, logits = [], []
    for lo in range(0, x.shape[0], batch):
        xb, yb = x[lo : lo + batch], y[lo : lo + batch]
        act = active[lo : lo + batch] if active is not None else None
        with torch.no_grad():
            z = model(attack(xb, yb, active=act)).float().cpu()  # (b, K, C)
        robust.append(z.argmax(-1) == yb.cpu()[:, None])
        logits.append(z)
    return torch.cat(robust), torch.cat(logits)


def run_suite(plan: list[Planned], model, x, y, correct: torch.Tensor, *, batch: int, device,
              keep_logits: tuple = (), on_attack=None) -> SuiteResult:
    """Run the planned attacks in order on ``x`` ``(N, C, H, W)`` / labels ``y`` ``(N,)``.

    ``correct`` ``(N, K)``: clean correctness (a misclassified example is never robust, and is
    never attacked by a survivors-only attack). ``on_attack(name)`` is called after each
    attack (progress)."""
    out = SuiteResult()
    worst = correct.clone().cpu()
    white = None
    for p in plan:
        gradient_free = isinstance(p.attack, Square)
        if gradient_free and white is None:
            white = worst
        elif not gradient_free and white is not None:
            raise ValueError("gradient-free attacks come last in a suite")
        start = time.perf_counter()
        active = worst if p.survivors_only else None
        ok, z = attack_batches(p.attack, model, x, y, batch, device,
                               active=None if active is None else active.to(x.device))
        out.seconds[p.name] = round(time.perf_counter() - start, 3)
        if not p.survivors_only:
            out.robust[p.name] = correct.cpu() & ok
        worst = worst & ok
        out.worst_upto[p.name] = worst
        if p.name in keep_logits:
            out.logits[p.name] = z
        if on_attack is not None:
            on_attack(p.name)
    out.worst, out.white_box = worst, (white if white is not None else worst)
    return out
