"""Per-member optimisers for banks: each member's slice is updated exactly as a standalone
model's parameters would be, with its own learning rate, and nothing couples members.

Every bank parameter has a leading member axis K (``models/layers.py``), so per-member
hyper-parameters are ``(K,)`` vectors broadcast over the remaining axes. A member is excluded
from updates by the ``active`` mask (a diverged member is frozen; its NaNs never leak because
updates are selected with ``torch.where``, not multiplied by 0).

SGD follows ``torch.optim.SGD`` (weight decay added to the gradient, dampening 0, first momentum
buffer = gradient, optional Nesterov); AdamW follows ``torch.optim.AdamW`` (decoupled decay,
bias-corrected moments, per-member step counts).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

OPTIMIZERS = ("sgd", "adamw")


def _per_member(vec: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(K,) → (K, 1, 1, ...) broadcastable against a parameter with leading K axis."""
    return vec.to(device=like.device, dtype=like.dtype).view(-1, *([1] * (like.dim() - 1)))


class BankOptimizer:
    """SGD or AdamW over bank parameters with per-member learning rates.

    Args:
        params: parameters whose first axis is the member axis K (shared non-bank
            parameters, if any, must not be passed).
        lrs: ``(K,)`` base learning rates; the step's rate is ``lrs * factor``.
    """

    def __init__(
        self, params: Iterable[torch.nn.Parameter], lrs: torch.Tensor, *, kind: str = "sgd",
        momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
    ) -> None:
        if kind not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {kind!r}; known: {', '.join(OPTIMIZERS)}")
        self.params = [p for p in params if p.requires_grad]
        self.lrs = torch.as_tensor(lrs, dtype=torch.float32)
        k = self.lrs.shape[0]
        for p in self.params:
            if p.dim() == 0 or p.shape[0] != k:
                raise ValueError(f"parameter of shape {tuple(p.shape)} has no member axis K={k}")
        self.kind, self.momentum, self.nesterov = kind, momentum, nesterov
        self.weight_decay, self.betas, self.eps = weight_decay, betas, eps
        self.state: dict[int, dict[str, torch.Tensor]] = {}
        self.steps = torch.zeros(k, dtype=torch.float64)  # per-member step counts (AdamW)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, factor: float = 1.0, active: torch.Tensor | None = None) -> None:
        """One update with learning rates ``lrs * factor``; members with ``active[k] = False``
        are left untouched (parameters and optimiser state)."""
        k = self.lrs.shape[0]
        active = torch.ones(k, dtype=torch.bool) if active is None else active.cpu()
        self.steps += active.double()
        if self.kind == "sgd" and bool(active.all()):
            self._sgd_all_members(factor)
            return
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            mask = _per_member(active, p).bool()
            lr = _per_member(self.lrs * factor, p)
            if self.kind == "sgd":
                new_p, new_state = self._sgd(p, p.grad, lr, self.state.get(i))
            else:
                new_p, new_state = self._adamw(p, p.grad, lr, self.state.get(i))
            p.copy_(torch.where(mask, new_p, p))
            old = self.state.get(i)
            if old is None:  # frozen members keep a zero state
                self.state[i] = {n: torch.where(mask, t, torch.zeros_like(t))
                                 for n, t in new_state.items()}
            else:
                for n, t in new_state.items():
                    old[n].copy_(torch.where(mask, t, old[n]))

    def _sgd_all_members(self, factor: float) -> None:
        """SGD when no member is frozen: the same arithmetic as ``_sgd`` (operation by
        operation, so the same bits), as a handful of ``torch._foreach_*`` calls over all
        parameters instead of ~8 small operations per parameter tensor."""
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not idx:
            return
        params = [self.params[i] for i in idx]
        grads = [p.grad for p in params]
        lrs = self.lrs * factor
        if self.weight_decay:
            d_p = torch._foreach_mul(params, self.weight_decay)
            torch._foreach_add_(d_p, grads)  # g + wd·p
        else:
            d_p = list(grads)
        if self.momentum:
            fresh = [i for i in idx if i not in self.state]
            old = [i for i in idx if i in self.state]
            for i in fresh:  # the first momentum buffer is the gradient itself
                self.state[i] = {"momentum": d_p[idx.index(i)].clone()}
            if old:
                bufs = [self.state[i]["momentum"] for i in old]
                torch._foreach_mul_(bufs, self.momentum)
                torch._foreach_add_(bufs, [d_p[idx.index(i)] for i in old])  # m·buf + d_p
            bufs = [self.state[i]["momentum"] for i in idx]
            if self.nesterov:
                ahead = torch._foreach_mul(bufs, self.momentum)
                torch._foreach_add_(ahead, d_p)  # d_p + m·buf
                d_p = ahead
            else:
                d_p = bufs
        step = torch._foreach_mul(d_p, [_per_member(lrs, p) for p in params])
        torch._foreach_sub_(params, step)  # p − lr·d_p

    def _sgd(self, p, g, lr, state):
        d_p = g + self.weight_decay * p if self.weight_decay else g
        if self.momentum:
            buf = d_p.clone() if state is None else state["momentum"] * self.momentum + d_p
            d_p = d_p + self.momentum * buf if self.nesterov else buf
            return p - lr * d_p, {"momentum": buf}
        return p - lr * d_p, {}

    def _adamw(self, p, g, lr, state):
        b1, b2 = self.betas
        if state is None:
            state = {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
        p = p * (1 - lr * self.weight_decay)
        m = state["exp_avg"] * b1 + (1 - b1) * g
        v = state["exp_avg_sq"] * b2 + (1 - b2) * g * g
        t = _per_member(self.steps.clamp(min=1).float(), p)
        bc1 = 1 - b1**t
        bc2 = 1 - b2**t
        denom = (v / bc2).sqrt() + self.eps
        return p - lr * (m / bc1) / denom, {"exp_avg": m, "exp_avg_sq": v}

    # -- checkpointing --------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "steps": self.steps.clone(), "lrs": self.lrs.clone(),
            "state": {i: {n: t.clone() for n, t in s.items()} for i, s in self.state.items()},
        }

    def load_state_dict(self, sd: dict) -> None:
        self.steps = sd["steps"].clone()
        self.lrs = sd["lrs"].clone()
        self.state = {
            int(i): {n: t.to(self.params[int(i)].device) for n, t in s.items()}
            for i, s in sd["state"].items()
        }
