"""The pieces ``fit`` is made of: random streams (the caller's global generator untouched),
freezing a diverged member's buffers, the stall rule."""

from __future__ import annotations

import torch

from tempcheck.data.base import DatasetSplits, Split
from tempcheck.registry import create_model, load_dataset
from tempcheck.train.freezing import MemberFreezer
from tempcheck.train.loop import FitOptions, RandomStreams, fit
from tempcheck.train.status import History, mark_stalled


def _digits(n: int = 128) -> DatasetSplits:
    d = load_dataset("digits")
    return DatasetSplits(d.name, Split(d.train.x[:n], d.train.y[:n]), d.val, d.test,
                         d.num_classes, d.in_channels, d.image_size, d.mean, d.std)


def _wrn_with_dropout(data):
    return create_model("wrn16_4", members=2, seeds=[0, 1], widen_factor=1, base_width=4,
                        dropout=0.5, **data.model_kwargs())


def test_fit_leaves_the_global_generator_as_the_caller_had_it():
    data = _digits()
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    fit(_wrn_with_dropout(data), data, temperatures=[1.0, 2.0], lrs=[0.05, 0.05],
        options=FitOptions(epochs=1, batch_size=64, eval_every=10))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_dropout_is_a_function_of_the_streams_not_of_the_global_generator():
    data = _digits()
    opts = FitOptions(epochs=1, batch_size=64, eval_every=10)
    runs = []
    for global_seed, streams in ((0, RandomStreams(5)), (99, RandomStreams(5)), (0, None)):
        torch.manual_seed(global_seed)
        model = _wrn_with_dropout(data)
        fit(model, data, temperatures=[1.0, 2.0], lrs=[0.05, 0.05], options=opts,
            seed=6, streams=streams)
        runs.append(model.eval()(data.test.x[:16]).detach())
    assert torch.equal(runs[0], runs[1])  # the global seed does not matter
    assert not torch.allclose(runs[0], runs[2])  # another data seed draws other masks


def test_freezer_keeps_a_frozen_members_buffers_and_reports_it_once():
    model = create_model("cnn", members=3, seeds=[0, 1, 2], widths=(4, 4, 4),
                         num_classes=3, in_channels=1, image_size=8)
    freezer = MemberFreezer(model, torch.ones(3, dtype=torch.bool))
    assert freezer.update(torch.tensor([True, True, True])) == []
    assert freezer.update(torch.tensor([True, False, True])) == [1]
    bn = model.norms[0]
    before = bn.running_mean.clone()
    with torch.no_grad():
        bn.running_mean.add_(1.0)  # what a train-mode forward would do to every member
    freezer.restore_buffers()
    assert torch.equal(bn.running_mean[1], before[1])
    assert torch.equal(bn.running_mean[[0, 2]], before[[0, 2]] + 1.0)
    assert freezer.update(torch.tensor([True, False, True])) == []  # already frozen
    assert freezer.active.tolist() == [True, False, True]


def test_stall_rule_is_chance_plus_margin_and_spares_diverged_members():
    history = History(records=[{"train_acc": [0.5, 0.19, 0.21, None], "status": []}],
                      status=["ok", "ok", "ok", "diverged"], diverged_epoch=[None] * 4)
    mark_stalled(history, num_classes=10, stall_margin=0.1)
    assert history.status == ["ok", "stalled", "ok", "diverged"]
    assert history.records[-1]["status"] == history.status
