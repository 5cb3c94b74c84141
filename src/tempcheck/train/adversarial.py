"""Adversarial training's inner maximisation, banked and tempered (docs/theory.md §5).

``adversarial_loss`` replaces the clean loss in the training loop: it returns one loss per member
``(K,)``, each member having attacked itself (member k's examples come from member k's own
gradients), so summing over members and calling ``backward`` trains every member exactly as if
it were trained alone.

- ``"pgd"`` — PGD-AT (Madry et al. 2018): the inner PGD (random start, ``steps`` sign steps of
  size ``alpha`` in the L∞ ε-ball, last iterate) climbs CE at the member's temperature τ_k; the
  outer loss is CE_τ on the adversarial examples. CIFAR convention: ε = 8/255, α = 2/255,
  10 steps.
- ``"trades"`` — TRADES (Zhang et al. 2019): CE_τ(clean) + β · KL(p_τ(clean) ‖ p_τ(adv)), with
  the inner maximisation climbing the same KL from x + 0.001·N(0, I) (the paper's start) and
  β = 6; p_τ = softmax(z / τ_k).

Train/eval mode: the examples are generated with the model in **eval mode** (BatchNorm uses its
running statistics and they are not updated by the attack's forward passes; dropout is off), the
common choice for BatchNorm networks; the model's previous mode is then restored and the outer
loss is computed in that mode (train mode in the loop, so BatchNorm statistics update on the
adversarial batch). The attack never accumulates parameter gradients and the adversarial
examples are detached: the returned loss's gradient reaches the parameters only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..attacks import PGD, eval_mode, per_member, project
from ..attacks.base import randn
from ..softmax import tempered_cross_entropy, tempered_log_softmax

METHODS = ("pgd", "trades")


def adversarial_loss(
    model, x: torch.Tensor, y: torch.Tensor, temperatures, *, method: str = "pgd",
    eps: float, alpha: float, steps: int, trades_beta: float = 6.0,
    generator: torch.Generator | None = None, return_logits: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Adversarial training loss per member, ``(K,)`` (batch mean).

    With ``return_logits`` also the logits the loss was computed on, ``(B, K, C)``: those of
    the adversarial examples for PGD-AT, of the clean batch for TRADES (the training loop
    reports its training accuracy on them).

    Args:
        model: bank mapping ``(B, C, H, W)`` / ``(B, K, C, H, W)`` in [0, 1] to ``(B, K, C)``.
        x: clean images ``(B, C, H, W)`` in [0, 1]; y: labels ``(B,)``.
        temperatures: ``(K,)`` training temperature of each member.
        method: ``"pgd"`` (PGD-AT) or ``"trades"``.
        eps, alpha, steps: L∞ radius, step size and number of inner steps.
        trades_beta: TRADES trade-off β (6).
        generator: source of the random starts; when None, a generator seeded from torch's
            global RNG (so ``torch.manual_seed`` makes runs reproducible).
    """
    if method not in METHODS:
        raise ValueError(f"adversarial training method must be one of {METHODS}, got {method!r}")
    tau = torch.as_tensor(temperatures, dtype=torch.float32).reshape(-1)
    if generator is None:  # a fresh stream per call, driven by (and reproducible from) torch's RNG
        generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,))))
    if method == "pgd":
        attack = PGD(model, eps=eps, alpha=alpha, steps=steps, loss="ce_tau", temperatures=tau,
                     keep_best=False, generator=generator)
        x_adv = attack(x, y)  # (B, K, C, H, W), eval mode inside, mode restored
        adv_logits = model(x_adv)
        loss = tempered_cross_entropy(adv_logits, y, tau, reduction="mean")
        return (loss, adv_logits) if return_logits else loss
    clean_logits = model(x)  # (B, K, C), in the caller's mode
    x_adv = _trades_examples(model, x, clean_logits.detach(), tau, eps, alpha, steps, generator)
    adv_log_p = tempered_log_softmax(model(x_adv), tau)
    clean_log_p = tempered_log_softmax(clean_logits, tau)
    kl = _kl(clean_log_p, adv_log_p).mean(dim=0)  # (K,)
    loss = tempered_cross_entropy(clean_logits, y, tau, reduction="mean") + trades_beta * kl
    return (loss, clean_logits) if return_logits else loss


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) per sample and member ``(B, K)`` from log-probabilities."""
    return F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(-1)


def _trades_examples(model, x, clean_logits, tau, eps, alpha, steps, generator) -> torch.Tensor:
    """TRADES inner maximisation of KL(p_τ(clean) ‖ p_τ(x')) in eval mode → ``(B, K, C, H, W)``.

    The clean distribution is taken from the caller's forward (its mode), detached, as in the
    reference implementation."""
    target = tempered_log_softmax(clean_logits.float(), tau)
    with eval_mode(model), torch.enable_grad():
        x0 = per_member(x.detach().float(), clean_logits.shape[1])
        noise = randn((x0.shape[0], 1, *x0.shape[2:]), generator, x0.device)
        x_adv = project(x0 + 0.001 * noise, x0, eps, "linf")
        for _ in range(steps):
            x_adv = x_adv.detach().requires_grad_(True)
            kl = _kl(target, tempered_log_softmax(model(x_adv).float(), tau))
            (grad,) = torch.autograd.grad(kl.sum(), x_adv)
            x_adv = project(x_adv + alpha * grad.sign(), x0, eps, "linf")
    return x_adv.detach()
