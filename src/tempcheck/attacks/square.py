"""Square attack, L∞ (Andriushchenko, Croce, Flammarion, Hein 2020, ECCV): score-based black-box.

It uses only the logits (never a gradient), so vanishing gradients cannot stop it; a Square
attack that beats the white-box attacks is a sign of gradient masking (docs/theory.md §5).

- Start: vertical stripes, x₀ + ε·s with one random sign s per column and channel.
- Each query: pick a random square window of side h = round(√(p · C·H·W / C)) (at least 1, at
  most H − 1), set the perturbation inside it to ±ε with one random sign per channel, and keep the
  change when the margin loss max_{j≠y} z_j − z_y rises (targeted: z_t − max_{j≠t} z_j).
- p follows the paper's schedule: p_init halved at queries 10, 50, 200, 500, 1000, 2000, 4000,
  6000 and 8000, rescaled to the query budget as if it were 10,000. p_init = 0.8 as in
  AutoAttack's standard version; 5,000 queries.

Banked: every member is attacked in parallel on its own copy and only queries its own logits;
proposals (window and signs) are drawn once per example and shared by all members, and a member
whose window proposal would not change its current image uses the opposite signs — so member k
gets exactly the run it would get alone. An example stops being queried (per member) once broken.
"""

from __future__ import annotations

import math

import torch

from .base import Attack, _bk, rand

_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_schedule(p_init: float, query: int, queries: int) -> float:
    """The fraction p of pixels changed at ``query`` (Andriushchenko et al. 2020, L∞)."""
    it = int(query / queries * 10000)
    return p_init / 2 ** sum(it > h for h in _HALVINGS)


class Square(Attack):
    """Square attack L∞ with the margin loss.

    Args: ``queries`` (5,000 model queries per example, including the initial one), ``p_init``
    (0.8); ``eps``, ``seed`` / ``generator`` as in :class:`~tempcheck.attacks.base.Attack`.
    """

    name = "square"

    def __init__(self, model, *, eps: float, queries: int = 5000, p_init: float = 0.8, **kw):
        kw.setdefault("loss", "margin")
        super().__init__(model, eps=eps, **kw)
        if self.norm != "linf":
            raise ValueError("only the L∞ Square attack is implemented")
        if queries < 1 or not 0 < p_init <= 1:
            raise ValueError("Square needs queries >= 1 and 0 < p_init <= 1")
        self.queries, self.p_init = int(queries), float(p_init)
        self.n_queries: torch.Tensor | None = None  # (B, K) queries used, after a call

    def _sign(self, shape, device) -> torch.Tensor:
        """±1 per example of the packing, read off per slot: ``(B', K, *shape)``."""
        draw = rand((self.packing.examples, *shape), self.generator, device)
        return self.packing.per_slot(draw.lt(0.5).float() * 2.0 - 1.0)

    def _uniform(self, device) -> torch.Tensor:
        """U[0, 1) per example of the packing, read off per slot: ``(B', K)``."""
        return self.packing.per_slot(rand((self.packing.examples,), self.generator, device))

    @torch.no_grad()
    def perturb(self, x0: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
        _, _, c, h, w = x0.shape
        x_best = (x0 + self.eps * self._sign((c, 1, w), x0.device)).clamp(0.0, 1.0)
        logits = self.logits(x_best)
        loss = self.loss(logits, y, target)
        done = self.success(logits, y, target) | self.padding(x0)
        n_queries = torch.ones_like(loss)
        for i in range(1, self.queries):
            active = ~done
            if not active.any():
                break
            side = round(math.sqrt(self.p_schedule(i) * h * w))
            side = max(1, min(side, h - 1))
            # one proposal per example, drawn for the whole batch (bank equivalence)
            top = (self._uniform(x0.device) * (h - side + 1)).long()  # (B', K)
            left = (self._uniform(x0.device) * (w - side + 1)).long()
            signs = self._sign((c, 1, 1), x0.device)  # (B', K, C, 1, 1)
            rows = active.any(1).nonzero().squeeze(1)
            x_new = self._propose(x0[rows], x_best[rows], top[rows], left[rows], side,
                                  signs[rows])
            logits = self.logits(x_new)
            loss_new = self.loss(logits, y[rows], target[rows] if target is not None else None)
            better = active[rows] & (loss_new > loss[rows])
            x_best[rows] = torch.where(_bk(better), x_new, x_best[rows])
            loss[rows] = torch.where(better, loss_new, loss[rows])
            done[rows] |= better & self.success(
                logits, y[rows], target[rows] if target is not None else None)
            n_queries[rows] += active[rows].float()
        self.n_queries = self.unpack_stat(n_queries, 0.0)
        return x_best

    def p_schedule(self, query: int) -> float:
        return p_schedule(self.p_init, query, self.queries)

    def _propose(self, x0, x_best, top, left, side, signs) -> torch.Tensor:
        """Set the window of every member's current image to x0 ± ε (clipped); a member whose
        window would not change takes the opposite signs. Images ``(B, K, C, H, W)``, window
        corners ``(B, K)``, signs ``(B, K, C, 1, 1)``."""
        hh = torch.arange(x0.shape[-2], device=x0.device)
        ww = torch.arange(x0.shape[-1], device=x0.device)
        in_h = (hh >= top[..., None]) & (hh < top[..., None] + side)  # (B, K, H)
        in_w = (ww >= left[..., None]) & (ww < left[..., None] + side)  # (B, K, W)
        window = (in_h[..., :, None] & in_w[..., None, :])[:, :, None]  # (B, K, 1, H, W)
        cand = (x0 + self.eps * signs).clamp(0.0, 1.0)
        unchanged = ((cand - x_best).abs() < 1e-7) | ~window
        same = unchanged.flatten(2).all(-1)  # (B, K)
        flipped = (x0 - self.eps * signs).clamp(0.0, 1.0)
        cand = torch.where(_bk(same), flipped, cand)
        return torch.where(window, cand, x_best)
