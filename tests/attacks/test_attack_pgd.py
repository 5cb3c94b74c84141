"""FGSM and PGD: threat model, train/eval mode, targeted success, restarts, and the banked
attack equal to attacking each member alone (docs/theory.md §5, DESIGN.md bank equivalence)."""

from __future__ import annotations

import pytest
import torch
from helpers_attacks import digit_batch, digits, member_alone, small_bank

from tempcheck.attacks import FGSM, PGD
from tempcheck.registry import create_model


def _bank():
    return small_bank(3)


def _batch(n: int = 48):
    return digit_batch(n)


def _accuracy(model, x_adv, y) -> torch.Tensor:
    with torch.no_grad():
        return (model(x_adv).argmax(-1) == y[:, None]).float().mean(0)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.8)])
@pytest.mark.parametrize("cls,kw", [
    (FGSM, {}),
    (PGD, {"steps": 5, "restarts": 2}),
    (PGD, {"steps": 4, "alpha": 1.0, "loss": "dlr"}),  # huge steps: the projection must bite
])
def test_attacks_stay_in_the_ball_and_in_the_unit_box(cls, kw, norm, eps):
    x, y = _batch()
    x_adv = cls(_bank(), eps=eps, norm=norm, **{"loss": "ce_raw", **kw})(x, y)
    assert x_adv.shape == (48, 3, 1, 8, 8)
    delta = (x_adv - x[:, None]).flatten(2)
    size = delta.abs().amax(-1) if norm == "linf" else delta.norm(dim=-1)
    assert size.max() <= eps * (1 + 1e-5)
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert size.max() > 0.5 * eps  # it did move


def test_pgd_breaks_an_undefended_model_more_than_fgsm():
    model = _bank()
    x, y = _batch()
    tau = torch.ones(3)
    clean = _accuracy(model, x, y)
    fgsm = _accuracy(model, FGSM(model, eps=0.15, temperatures=tau)(x, y), y)
    pgd = _accuracy(model, PGD(model, eps=0.15, temperatures=tau)(x, y), y)
    assert (pgd <= fgsm).all() and (pgd < clean - 0.3).all()


def test_attacks_run_in_eval_mode_and_restore_the_mode():
    data = digits()
    model = create_model("cnn", members=2, widths=(4, 8), **data.model_kwargs()).train()
    model.norms[0].eval()  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    seen = []
    model.register_forward_pre_hook(lambda mod, args: seen.append(mod.training))
    stats = model.norms[1].running_mean.clone()
    x, y = _batch(8)
    PGD(model, eps=0.1, steps=2, loss="margin")(x, y)
    FGSM(model, eps=0.1, loss="ce_raw")(x, y)
    assert seen and not any(seen)
    assert [m.training for m in model.modules()] == before
    assert torch.equal(model.norms[1].running_mean, stats)  # BatchNorm statistics untouched
    assert all(p.grad is None for p in model.parameters())  # no parameter gradients


def test_targeted_pgd_hits_the_target_on_an_undefended_model():
    model = _bank()
    x, y = _batch()
    target = (y + 1 + torch.arange(48) % 9) % 10
    for loss in ("ce_raw", "margin", "dlr"):
        x_adv = PGD(model, eps=0.4, steps=30, loss=loss)(x, y, target)
        with torch.no_grad():
            hit = (model(x_adv).argmax(-1) == target[:, None]).float().mean(0)
        assert (hit > 0.9).all(), (loss, hit)


def test_banked_pgd_equals_attacking_each_member_alone():
    bank = _bank()
    data = digits()
    x, y = _batch(32)
    tau = torch.tensor([0.5, 1.0, 2.0])
    banked = PGD(bank, eps=0.1, steps=6, restarts=2, temperatures=tau, seed=3)(x, y)
    for k in range(3):
        alone = member_alone(bank, k, hidden=(16,), **data.model_kwargs())
        single = PGD(alone, eps=0.1, steps=6, restarts=2, temperatures=tau[k : k + 1], seed=3)
        assert torch.allclose(banked[:, k], single(x, y)[:, 0], atol=1e-6)


def test_restarts_and_every_iterate_only_add_successes():
    model = _bank()
    x, y = _batch()
    tau = torch.ones(3)

    def broken(attack):
        x_adv = attack(x, y)
        with torch.no_grad():
            return model(x_adv).argmax(-1) != y[:, None]

    one = PGD(model, eps=0.08, steps=5, temperatures=tau, seed=1)
    last_only = broken(PGD(model, eps=0.08, steps=5, temperatures=tau, seed=1, keep_best=False))
    single = broken(one)
    several = broken(PGD(model, eps=0.08, steps=5, restarts=3, temperatures=tau, seed=1))
    assert (single >= last_only).all() and (several >= single).all()
    history = one.history
    assert history.shape == (6, 48, 3)
    assert (history[1:] >= history[:-1]).all()  # broken stays broken
    assert torch.equal(history[-1], single)
