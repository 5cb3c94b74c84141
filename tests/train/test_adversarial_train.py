"""Adversarial training losses (PGD-AT, TRADES) with per-member temperatures: shape, closed
forms, train/eval mode, gradients reaching the parameters only, and bank equivalence."""

from __future__ import annotations

import pytest
import torch
from helpers_attacks import digit_batch, digits, member_alone, small_bank

from tempcheck.registry import create_model
from tempcheck.softmax import tempered_cross_entropy
from tempcheck.train.adversarial import adversarial_loss

TAU = torch.tensor([0.5, 2.0])
KW = dict(eps=0.1, alpha=0.025, steps=3)


def _bank():
    return small_bank(2)


def _batch(n: int = 32):
    return digit_batch(n, "train")


@pytest.mark.parametrize("method", ["pgd", "trades"])
def test_loss_per_member_reaches_parameters_only(method):
    data = digits()
    model = create_model("cnn", members=2, widths=(4, 8), **data.model_kwargs()).train()
    x, y = _batch(16)
    x = x.clone().requires_grad_(method == "pgd")
    gen = torch.Generator().manual_seed(0)
    loss = adversarial_loss(model, x, y, TAU, method=method, generator=gen, **KW)
    assert loss.shape == (2,) and torch.isfinite(loss).all()
    assert all(p.grad is None for p in model.parameters())  # the attack left no gradients
    assert model.training and all(m.training for m in model.modules())  # mode restored
    loss.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.head.weight.grad.abs().sum() > 0
    if method == "pgd":
        assert x.grad is None  # adversarial examples are detached from x


def test_attack_runs_in_eval_mode_and_outer_loss_in_train_mode():
    data = digits()
    model = create_model("cnn", members=2, widths=(4, 8), **data.model_kwargs()).train()
    modes = []
    model.register_forward_pre_hook(lambda mod, args: modes.append(mod.training))
    adversarial_loss(model, *_batch(8), TAU, method="pgd", **KW)
    assert modes == [False] * KW["steps"] + [True]


def test_pgd_at_loss_exceeds_the_clean_loss():
    model = _bank()
    x, y = _batch()
    with torch.no_grad():
        clean = tempered_cross_entropy(model(x), y, TAU)
    adv = adversarial_loss(model, x, y, TAU, method="pgd", **KW).detach()
    assert (adv > clean).all()


def test_trades_with_beta_zero_is_the_clean_tempered_loss():
    model = _bank()
    x, y = _batch()
    loss = adversarial_loss(model, x, y, TAU, method="trades", trades_beta=0.0, **KW)
    with torch.no_grad():
        clean = tempered_cross_entropy(model(x), y, TAU)
    assert torch.allclose(loss.detach(), clean, atol=1e-6)
    kl_part = adversarial_loss(model, x, y, TAU, method="trades", trades_beta=1.0, **KW) - loss
    assert (kl_part > 0).all()  # the inner maximisation found a positive KL


@pytest.mark.parametrize("method", ["pgd", "trades"])
def test_each_member_attacks_itself_as_if_alone(method):
    bank, data = _bank(), digits()
    x, y = _batch(16)
    banked = adversarial_loss(bank, x, y, TAU, method=method,
                              generator=torch.Generator().manual_seed(4), **KW)
    for k in range(2):
        alone = member_alone(bank, k, hidden=(16,), **data.model_kwargs())
        single = adversarial_loss(alone, x, y, TAU[k : k + 1], method=method,
                                  generator=torch.Generator().manual_seed(4), **KW)
        assert torch.allclose(banked[k], single[0], atol=1e-5)


def test_unknown_method():
    with pytest.raises(ValueError, match="method"):
        adversarial_loss(_bank(), *_batch(4), TAU, method="fgsm", **KW)


def test_without_a_generator_the_global_seed_drives_the_random_starts():
    model, (x, y) = _bank(), _batch(8)
    torch.manual_seed(0)
    first = adversarial_loss(model, x, y, TAU, method="pgd", **KW)
    second = adversarial_loss(model, x, y, TAU, method="pgd", **KW)
    torch.manual_seed(0)
    again = adversarial_loss(model, x, y, TAU, method="pgd", **KW)
    assert torch.equal(first, again) and not torch.equal(first, second)
