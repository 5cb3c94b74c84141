"""APGD and APGD-T (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML; docs/theory.md §5), banked.

APGD is PGD with momentum and a step size that adapts itself, per example and member:

- η starts at 2ε; x⁽¹⁾ = P(x⁽⁰⁾ + η d(∇f(x⁽⁰⁾))), then
  z = P(x⁽ᵏ⁾ + η d(∇f(x⁽ᵏ⁾))),  x⁽ᵏ⁺¹⁾ = P(x⁽ᵏ⁾ + α(z − x⁽ᵏ⁾) + (1 − α)(x⁽ᵏ⁾ − x⁽ᵏ⁻¹⁾)), α = 0.75.
- Checkpoints w_j = ⌈p_j N⌉ with p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06).
- At a checkpoint η is halved and the iterate restarts from the best point x_max when
  (1) the loss rose in fewer than ρ = 0.75 of the steps since the last checkpoint, or
  (2) η was not halved at the last checkpoint and the best loss has not improved since.

APGD-CE climbs CE at the member's training temperature by default (AutoAttack run on the member
as deployed, softmax(z/τ)); APGD-T climbs the targeted DLR loss against each of the top
``n_target_classes`` (9) other classes in turn, ranked by the member's clean logits, attacking
only examples that are still robust, and counts any misclassification as success.
"""

from __future__ import annotations

import math

import torch

from .base import Attack, BestTracker, _bk, ascent_direction, project, random_start


def checkpoints(steps: int) -> list[int]:
    """The checkpoint iterations w₁ < w₂ < … ≤ ``steps`` of Croce & Hein 2020 (w₀ = 0 excluded)."""
    p, out = [0.0, 0.22], []
    while p[-1] <= 1.0:
        w = math.ceil(p[-1] * steps - 1e-9)
        if w >= 1 and (not out or w > out[-1]):
            out.append(w)
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return out


class APGD(Attack):
    """Auto-PGD; see :class:`~tempcheck.attacks.base.Attack` for the common arguments.

    Args:
        steps: iterations N (100). restarts: random restarts (1), the best one kept.
        rho: the checkpoint test's fraction ρ (0.75). momentum: α (0.75).
    """

    name = "apgd_ce"

    def __init__(
        self, model, *, eps: float, steps: int = 100, restarts: int = 1, rho: float = 0.75,
        momentum: float = 0.75, **kw,
    ) -> None:
        super().__init__(model, eps=eps, **kw)
        if steps < 1 or restarts < 1:
            raise ValueError("APGD needs steps >= 1 and restarts >= 1")
        self.steps, self.restarts = int(steps), int(restarts)
        self.rho, self.momentum = float(rho), float(momentum)
        self.checkpoints = set(checkpoints(self.steps))
        self.step_size: torch.Tensor | None = None  # (B, K) η at the end of the last run

    def perturb(self, x0: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
        best = BestTracker(x0, done=self.padding(x0))
        eta = torch.full(x0.shape[:2], float("nan"), device=x0.device)
        for _ in range(self.restarts):
            eta = self._run(x0, y, target, best, self.packing)
        self.step_size = self.unpack_stat(eta, float("nan"))
        return best.x

    def _run(self, x0, y, target, best: BestTracker, packing) -> torch.Tensor:
        """One APGD run from a random start, updating ``best``; returns η at the end ``(B, K)``.

        The random start is drawn per example of ``packing`` (the whole original batch), so an
        example gets the same draw whichever others are still being attacked."""
        x = random_start(x0, self.eps, self.norm, self.generator, packing)
        logits, loss, grad = self.loss_and_grad(x, y, target)
        best.update(x, loss, self.success(logits, y, target))
        x_max, g_max, f_max = x, grad, loss
        eta = torch.full_like(loss, 2.0 * self.eps)
        eta_ck, fmax_ck = eta.clone(), f_max.clone()
        rises, loss_prev, last_ck = torch.zeros_like(loss), loss, 0
        x_prev = x
        for k in range(self.steps):
            if best.done.all():
                break
            a = 1.0 if k == 0 else self.momentum
            z = project(x + _bk(eta) * ascent_direction(grad, self.norm), x0, self.eps, self.norm)
            x_new = project(x + a * (z - x) + (1.0 - a) * (x - x_prev), x0, self.eps, self.norm)
            x_prev, x = x, x_new
            logits, loss, grad = self.loss_and_grad(x, y, target)
            best.update(x, loss, self.success(logits, y, target))
            rises += (loss > loss_prev).float()
            loss_prev = loss
            improved = loss > f_max
            x_max = torch.where(_bk(improved), x, x_max)
            g_max = torch.where(_bk(improved), grad, g_max)
            f_max = torch.where(improved, loss, f_max)
            if k + 1 in self.checkpoints:
                # condition 1: the loss rose in at most ρ of the steps since the last checkpoint
                stalled = rises <= self.rho * (k + 1 - last_ck)
                stuck = (eta == eta_ck) & (f_max <= fmax_ck)  # condition 2
                halve = stalled | stuck
                eta_ck, fmax_ck = eta.clone(), f_max.clone()
                eta = torch.where(halve, eta / 2.0, eta)
                x = torch.where(_bk(halve), x_max, x)
                grad = torch.where(_bk(halve), g_max, grad)
                loss_prev = torch.where(halve, f_max, loss)
                rises.zero_()
                last_ck = k + 1
        return eta


def default_target_count(num_classes: int) -> int:
    """How many target classes APGD-T tries by default for C classes: all C − 1 up to C = 4,
    then ``max(3, ⌈(C − 1) / 2⌉)`` capped at AutoAttack's 9 (5 for 10 classes).

    Targets are tried from the most to the least likely (by the clean logits), each only on the
    pairs still robust, so the later targets meet few examples and break fewer still; halving
    the count where C is small keeps most of the strength of all C − 1 at about half the cost
    (measured: bench/attack_reference.py)."""
    if num_classes <= 4:
        return max(1, num_classes - 1)
    return min(9, max(3, math.ceil((num_classes - 1) / 2)))


class APGDT(APGD):
    """APGD-T: targeted DLR against the top ``n_target_classes`` other classes (default 9,
    capped at C − 1), one APGD run each; success is any misclassification."""

    name = "apgd_t"

    def __init__(self, model, *, eps: float, n_target_classes: int = 9, **kw) -> None:
        kw.setdefault("loss", "dlr")
        super().__init__(model, eps=eps, **kw)
        if n_target_classes < 1:
            raise ValueError("APGD-T needs n_target_classes >= 1")
        self.n_target_classes = int(n_target_classes)
        self.success_on_target = False

    def perturb(self, x0: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
        if target is not None:
            raise ValueError("APGD-T chooses its own targets; call it without target")
        with torch.no_grad():
            clean = self.logits(x0)  # (B, K, C)
        y_k = y.unsqueeze(1).expand(clean.shape[:2]) if y.dim() == 1 else y
        others = clean.scatter(-1, y_k.unsqueeze(-1), float("-inf"))
        n = min(self.n_target_classes, clean.shape[-1] - 1)
        ranked = others.argsort(-1, descending=True)[..., :n]  # (B, K, n)
        best = BestTracker(x0, done=self.padding(x0))
        best.update(x0, torch.full_like(best.loss, float("-inf")), self.success(clean, y, None))
        outer = self.packing
        for r in range(n):
            for _ in range(self.restarts):
                if best.done.all():
                    return best.x
                # only the pairs still robust, packed again (draws stay per original example)
                sub = outer.pack(~best.done)
                tracker = BestTracker(sub.gather(best.x), done=~sub.valid)
                tracker.loss = sub.gather(best.loss)
                self._run(sub.gather(x0), sub.gather(y_k), sub.gather(ranked[..., r]), tracker,
                          sub)
                best.x = sub.scatter(best.x, tracker.x)
                best.loss = sub.scatter(best.loss, tracker.loss)
                best.done = sub.scatter(best.done, tracker.done)
        return best.x
