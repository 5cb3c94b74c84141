"""Shared fixtures for the attack, robustness and adversarial-training tests: tiny models on the
embedded digits, trained in well under a second."""

from __future__ import annotations

import functools

import torch
from torch import nn

import support
from tempcheck.registry import create_model
from tempcheck.softmax import tempered_cross_entropy


def digits():
    return support.digits()


def trained_bank(members: int = 2, hidden: tuple = (), steps: int = 150, seeds=None):
    """A banked MLP (``hidden=()``: linear) trained full-batch with Adam on digits, eval mode."""
    data = digits()
    model = create_model("mlp", members=members, hidden=hidden, seeds=seeds, **data.model_kwargs())
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        loss = tempered_cross_entropy(model(data.train.x), data.train.y, 1.0).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@functools.lru_cache(maxsize=None)
def small_bank(members: int):
    """A digits MLP bank (hidden 16, 120 steps) trained once per session per member count:
    the attack tests' shared victim (do not modify it in place)."""
    return trained_bank(members=members, hidden=(16,), steps=120)


def digit_batch(n: int, split: str = "test"):
    """The first ``n`` images ``(n, 1, 8, 8)`` and labels ``(n,)`` of a digits split."""
    part = getattr(digits(), split)
    return part.x[:n], part.y[:n]


def member_alone(bank, k: int, **kw):
    """Member k of ``bank`` as a standalone K = 1 model of the same family."""
    alone = create_model(bank.family, members=1, **kw)
    alone.load_state_dict(bank.member_state(k))
    return alone.eval()


class ScaledLogits(nn.Module):
    """Multiplies member k's logits by ``scales[k]``: a large scale is a cold softmax in
    disguise, whose CE input gradients vanish (docs/theory.md §5)."""

    def __init__(self, inner: nn.Module, scales):
        super().__init__()
        self.inner, self.members = inner, inner.members
        self.register_buffer("scales", torch.as_tensor(scales, dtype=torch.float32))

    def forward(self, x):
        return self.inner(x) * self.scales[:, None]
