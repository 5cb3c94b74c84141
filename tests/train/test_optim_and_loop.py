"""Per-member optimiser, schedules, learning-rate coupling, divergence and stall handling."""

from __future__ import annotations

import math

import pytest
import torch

from support import digits_subset
from tempcheck.data.base import DatasetSplits
from tempcheck.registry import create_model
from tempcheck.train.loop import FitOptions, coupled_learning_rates, fit
from tempcheck.train.optim import BankOptimizer
from tempcheck.train.schedules import lr_factor


@pytest.mark.parametrize("kind", ["sgd", "sgd-nesterov", "adamw"])
def test_bank_optimizer_matches_torch_optim(kind):
    torch.manual_seed(0)
    w0 = torch.randn(1, 5, 3)
    ours = torch.nn.Parameter(w0.clone())
    ref = torch.nn.Parameter(w0.clone())
    if kind == "adamw":
        opt = BankOptimizer([ours], torch.tensor([0.01]), kind="adamw", weight_decay=0.1)
        topt = torch.optim.AdamW([ref], lr=0.01, weight_decay=0.1)
    else:
        nesterov = kind == "sgd-nesterov"
        opt = BankOptimizer([ours], torch.tensor([0.1]), kind="sgd", momentum=0.9,
                            nesterov=nesterov, weight_decay=5e-4)
        topt = torch.optim.SGD([ref], lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=5e-4)
    for step in range(5):
        g = torch.randn(1, 5, 3, generator=torch.Generator().manual_seed(step))
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        topt.step()
    assert torch.allclose(ours, ref, atol=1e-6)


def test_inactive_member_is_untouched_even_with_nan_gradients():
    p = torch.nn.Parameter(torch.ones(2, 3))
    opt = BankOptimizer([p], torch.tensor([0.1, 0.1]), kind="sgd", momentum=0.9)
    p.grad = torch.tensor([[1.0, 1.0, 1.0], [math.nan, math.nan, math.nan]])
    opt.step(active=torch.tensor([True, False]))
    assert torch.equal(p[1].detach(), torch.ones(3))
    assert torch.allclose(p[0].detach(), torch.full((3,), 0.9))
    assert torch.isfinite(opt.state[0]["momentum"]).all()


def test_schedules():
    assert lr_factor(0, 100, schedule="cosine") == pytest.approx(1.0)
    assert lr_factor(50, 100, schedule="cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, schedule="cosine") == pytest.approx(0.0)
    assert lr_factor(4, 100, schedule="constant", warmup_steps=10) == pytest.approx(0.5)
    assert lr_factor(25, 100, schedule="step", step_every=10, gamma=0.5) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        lr_factor(0, 10, schedule="nope")


def test_learning_rate_coupling_exponent():
    lrs = coupled_learning_rates(0.05, [0.1, 1.0, 10.0], 1.0)
    assert torch.allclose(lrs, torch.tensor([0.005, 0.05, 0.5]))
    assert torch.allclose(coupled_learning_rates(0.05, [0.1, 10.0], 0.0), torch.tensor([0.05, 0.05]))
    assert torch.allclose(coupled_learning_rates(0.05, [2.0], 2.0), torch.tensor([0.2]))


@pytest.fixture(scope="module")
def tiny_digits() -> DatasetSplits:
    return digits_subset(320)


def test_diverging_member_is_frozen_and_others_unaffected(tiny_digits):
    kw = dict(hidden=(32,), **tiny_digits.model_kwargs())
    opts = FitOptions(epochs=3, batch_size=32, schedule="constant", weight_decay=0.0)
    # member 1: an absurd learning rate at a tiny temperature blows up within the first epoch
    bank = create_model("mlp", members=2, seeds=[0, 1], **kw)
    hist = fit(bank, tiny_digits, temperatures=[1.0, 0.01], lrs=[0.05, 1e6], options=opts)
    assert hist.status == ["ok", "diverged"]
    assert hist.diverged_epoch[1] == 0
    assert hist.records[-1]["train_loss"][1] is None  # NaN written as null, never as garbage
    alone = create_model("mlp", members=1, seeds=[0], **kw)
    fit(alone, tiny_digits, temperatures=[1.0], lrs=[0.05], options=opts)
    x = tiny_digits.test.x[:32]
    bank.eval(), alone.eval()
    with torch.no_grad():
        assert torch.allclose(bank(x)[:, 0], alone(x)[:, 0], atol=1e-5)


def test_member_near_chance_is_marked_stalled(tiny_digits):
    bank = create_model("mlp", members=2, seeds=[0, 0], hidden=(32,), **tiny_digits.model_kwargs())
    hist = fit(bank, tiny_digits, temperatures=[1.0, 1000.0], lrs=[0.05, 1e-4],
               options=FitOptions(epochs=2, batch_size=32))
    assert hist.status == ["ok", "stalled"]


def test_history_records_per_member_metrics_each_epoch(tiny_digits):
    bank = create_model("cnn", members=3, seeds=[0, 1, 2], widths=(8, 8, 8),
                        **tiny_digits.model_kwargs())
    hist = fit(bank, tiny_digits, temperatures=[0.5, 1, 2], lrs=[0.05] * 3,
               options=FitOptions(epochs=2, batch_size=32))
    assert len(hist.records) == 2
    for key in ("train_loss", "train_acc", "val_acc", "test_acc", "logit_norm", "lr", "status"):
        assert len(hist.records[-1][key]) == 3, key


def test_resume_from_snapshot_equals_uninterrupted(tiny_digits):
    kw = dict(widths=(8, 8, 8), **tiny_digits.model_kwargs())
    opts = FitOptions(epochs=4, batch_size=32)
    full = create_model("cnn", members=2, seeds=[0, 1], **kw)
    fit(full, tiny_digits, temperatures=[1, 5], lrs=[0.05, 0.05], options=opts, seed=3)
    snaps = {}
    first = create_model("cnn", members=2, seeds=[0, 1], **kw)

    def keep(epoch, snapshot):
        if epoch == 1:
            snaps["s"] = snapshot()

    fit(first, tiny_digits, temperatures=[1, 5], lrs=[0.05, 0.05], options=opts, seed=3,
        on_epoch_end=keep)
    resumed = create_model("cnn", members=2, seeds=[9, 9], **kw)  # weights come from the snapshot
    fit(resumed, tiny_digits, temperatures=[1, 5], lrs=[0.05, 0.05], options=opts, seed=3,
        start_state=snaps["s"])
    x = tiny_digits.test.x[:32]
    full.eval(), resumed.eval()
    with torch.no_grad():
        assert torch.allclose(full(x), resumed(x), atol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_fused_sgd_step_equals_the_masked_step_bit_for_bit(nesterov):
    # with every member active SGD takes the fused (torch._foreach) path; with one member
    # frozen it takes the per-parameter masked path: the active members must not notice
    torch.manual_seed(0)
    shapes = [(3, 4, 5), (3, 7)]
    fused = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
    masked = [torch.nn.Parameter(p.detach().clone()) for p in fused]
    kw = dict(momentum=0.9, nesterov=nesterov, weight_decay=5e-4)
    opt_f = BankOptimizer(fused, torch.tensor([0.1, 0.05, 0.2]), **kw)
    opt_m = BankOptimizer(masked, torch.tensor([0.1, 0.05, 0.2]), **kw)
    for step in range(4):
        for a, b in zip(fused, masked):
            g = torch.randn(a.shape, generator=torch.Generator().manual_seed(step))
            a.grad, b.grad = g.clone(), g.clone()
        opt_f.step(0.5)
        opt_m.step(0.5, torch.tensor([True, step < 2, True]))
    for a, b in zip(fused, masked):
        assert torch.equal(a[[0, 2]], b[[0, 2]])
        assert not torch.equal(a[1], b[1])
