"""PGD (Madry, Makelov, Schmidt, Tsipras, Vladu 2018), L∞ and L2, banked.

x ← Π_{‖x−x₀‖≤ε, [0,1]}(x + α · d(∇ₓ L)), d = sign for L∞ and g/‖g‖₂ for L2 (docs/theory.md §5).
Madry's CIFAR convention: ε = 8/255, α = 2/255 (α = ε/4, the default here), 20 steps, random
start. Any loss of ``attacks.losses`` can be climbed, targeted or not.

With ``keep_best`` (default) every iterate is checked, so each example and member keeps its
first successful iterate (else its highest-loss one) over all steps and restarts — never weaker
than returning the last iterate. A run of T steps costs T forward+backward passes plus one forward
for the last iterate. ``history`` then holds, per step t, whether the example had been broken by
step t in any restart, so one long run also gives robust accuracy for every shorter budget.
With ``keep_best=False`` the last iterate is returned (adversarial training's inner loop).
"""

from __future__ import annotations

import torch

from .base import Attack, BestTracker, ascent_direction, project, random_start


class PGD(Attack):
    """Projected gradient ascent with random restarts.

    Args (beyond :class:`~tempcheck.attacks.base.Attack`):
        alpha: step size; default ε/4 (2/255 at ε = 8/255).
        steps: iterations per restart (20).
        restarts: random restarts; per example and member the successful / worst one is kept.
        random_start: start uniformly in the ε-ball (True) or at the clean input.
        keep_best: track every iterate (see module docstring).
    """

    name = "pgd"

    def __init__(
        self, model, *, eps: float, alpha: float | None = None, steps: int = 20,
        restarts: int = 1, random_start: bool = True, keep_best: bool = True, **kw,
    ) -> None:
        super().__init__(model, eps=eps, **kw)
        if steps < 1 or restarts < 1:
            raise ValueError("PGD needs steps >= 1 and restarts >= 1")
        self.alpha = float(alpha) if alpha is not None else self.eps / 4.0
        self.steps, self.restarts = int(steps), int(restarts)
        self.random_start, self.keep_best = random_start, keep_best
        self.history: torch.Tensor | None = None  # (steps + 1, B, K) bool after a call

    def perturb(self, x0: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
        best = BestTracker(x0)
        history = torch.zeros((self.steps + 1, *x0.shape[:2]), dtype=torch.bool, device=x0.device)
        x = x0
        for _ in range(self.restarts):
            x = (random_start(x0, self.eps, self.norm, self.generator, self.packing)
                 if self.random_start else x0)
            broken = torch.zeros_like(best.done)
            for t in range(self.steps + 1):
                if t < self.steps:
                    logits, loss, grad = self.loss_and_grad(x, y, target)
                elif self.keep_best:
                    with torch.no_grad():
                        logits = self.logits(x)
                        loss = self.loss(logits, y, target)
                else:
                    break
                if self.keep_best:
                    success = self.success(logits, y, target)
                    best.update(x, loss, success)
                    broken |= success
                    history[t] |= broken
                if t < self.steps:
                    x = project(x + self.alpha * ascent_direction(grad, self.norm), x0,
                                self.eps, self.norm)
        # (steps + 1, B, K) in the caller's layout; pairs not attacked read as never broken
        self.history = (self.unpack_stat(history.permute(1, 2, 0), 0).permute(2, 0, 1)
                        if self.keep_best else None)
        return best.x if self.keep_best else x
