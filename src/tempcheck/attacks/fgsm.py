"""FGSM (Goodfellow, Shlens, Szegedy 2015): one step of size ε along the gradient's sign.

x_adv = Π_{[0,1]}(x + ε · sign ∇ₓ L(x)) for L∞ (docs/theory.md §5: "FGSM is one step with α = ε");
for L2 the step is ε · g/‖g‖₂ (the fast gradient method). Banked: ``(B, K, C, H, W)`` out, one
forward and one backward for all members. A single step that beats many (PGD) is a classic
sign of gradient masking (Athalye, Carlini, Wagner 2018).
"""

from __future__ import annotations

import torch

from .base import Attack, ascent_direction, project


class FGSM(Attack):
    """One-step attack; see :class:`tempcheck.attacks.base.Attack` for the arguments."""

    name = "fgsm"

    def perturb(self, x0: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
        _, _, grad = self.loss_and_grad(x0, y, target)
        return project(x0 + self.eps * ascent_direction(grad, self.norm), x0, self.eps, self.norm)
