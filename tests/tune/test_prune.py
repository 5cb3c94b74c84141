"""Members removed from a bank leave the survivors exactly where the unpruned bank has them."""

from __future__ import annotations

import pytest
import torch

from tempcheck.registry import create_model, load_dataset
from tempcheck.train.loop import FitOptions, fit
from tempcheck.tune.prune import keep_members

TAUS = [0.3, 1.0, 3.0, 10.0]
SEEDS = [11, 12, 13, 14]


def _digits():
    data = load_dataset("digits", split_seed=0)
    return data


def _bank(data, seeds, widths=(4, 8)):
    return create_model("cnn", members=len(seeds), seeds=seeds, widths=list(widths),
                        **data.model_kwargs())


def _train(model, data, taus, epochs, optimizer, start_state=None, stop_after=None):
    """fit for ``epochs`` (schedule length); returns the snapshot after the last epoch run."""
    snaps = {}

    def on_end(epoch, snapshot):
        snaps["last"] = snapshot()

    opts = FitOptions(epochs=epochs, batch_size=128, optimizer=optimizer, weight_decay=5e-4,
                      momentum=0.9, eval_batch_size=512)
    fit(model, data, temperatures=torch.tensor(taus), lrs=torch.full((len(taus),), 0.05),
        options=opts, seed=3, start_state=start_state, on_epoch_end=on_end)
    return snaps["last"]


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_pruned_survivors_continue_exactly_as_in_the_unpruned_bank(optimizer):
    data = _digits()
    keep = [1, 3]
    # reference: the full bank trained 3 epochs
    full = _bank(data, SEEDS)
    ref = _train(full, data, TAUS, 3, optimizer)
    # the same bank trained 2 of those 3 epochs, then pruned to members 1 and 3 for the last
    partial = _bank(data, SEEDS)
    snap = {}

    class Stop(Exception):
        pass

    def on_end(epoch, snapshot):
        if epoch == 1:
            snap["s"] = snapshot()
            raise Stop

    opts = FitOptions(epochs=3, batch_size=128, optimizer=optimizer, weight_decay=5e-4,
                      momentum=0.9, eval_batch_size=512)
    with pytest.raises(Stop):
        fit(partial, data, temperatures=torch.tensor(TAUS), lrs=torch.full((4,), 0.05),
            options=opts, seed=3, on_epoch_end=on_end)
    small = _bank(data, [SEEDS[i] for i in keep])
    state = keep_members(snap["s"], keep, members=4, template=small.state_dict())
    out = _train(small, data, [TAUS[i] for i in keep], 3, optimizer, start_state=state)

    ref_model, out_model = ref["model"], out["model"]
    idx = torch.tensor(keep)
    for name, t in out_model.items():
        want = ref_model[name]
        if want.dim() >= 1 and want.shape[0] == 4:
            want = want.index_select(0, idx)
        assert torch.allclose(t.double(), want.double(), atol=1e-5, rtol=1e-4), name
    for i, s in out["optimizer"]["state"].items():
        for n, t in s.items():
            want = ref["optimizer"]["state"][i][n].index_select(0, idx)
            assert torch.allclose(t, want, atol=1e-5, rtol=1e-4), (i, n)
    assert torch.equal(out["optimizer"]["steps"], ref["optimizer"]["steps"][idx])
    # the history of the survivors is theirs: per-member lists sliced, epochs kept
    assert [r["epoch"] for r in out["history"]["records"]] == [0, 1, 2]
    assert out["history"]["records"][0]["train_loss"] == pytest.approx(
        [ref["history"]["records"][0]["train_loss"][i] for i in keep], rel=1e-5)


def test_pruning_removes_the_members_from_the_model_and_optimiser():
    data = _digits()
    bank = _bank(data, SEEDS)
    snap = _train(bank, data, TAUS, 1, "sgd")
    small = _bank(data, [SEEDS[0]])
    state = keep_members(snap, [0], members=4, template=small.state_dict())
    small.load_state_dict(state["model"])  # strict: every tensor now has one member
    assert all(t.shape[0] == 1 for t in state["optimizer"]["state"][0].values())
    assert state["optimizer"]["lrs"].shape == (1,)


def test_keep_members_refuses_bad_indices_and_foreign_layouts():
    data = _digits()
    bank = _bank(data, SEEDS)
    snap = _train(bank, data, TAUS, 1, "sgd")
    small = _bank(data, SEEDS[:2])
    with pytest.raises(ValueError, match="cannot keep"):
        keep_members(snap, [0, 7], members=4, template=small.state_dict())
    other = _bank(data, SEEDS[:2], widths=(4, 16))  # a different architecture
    with pytest.raises(ValueError, match="member axis"):
        keep_members(snap, [0, 1], members=4, template=other.state_dict())
