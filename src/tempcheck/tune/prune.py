"""Remove members from a bank mid-training, physically: the survivors continue exactly where
they would be in the unpruned bank.

Why this is exact: member k of a bank owns index k of every banked tensor (parameters, BatchNorm
statistics, optimiser moments, per-member step counts and learning rates; ``models/layers.py``)
and nothing couples members (``train/optim.py``), while the batch order depends on the group's
data seed and the epoch only. Slicing every member-indexed tensor of a training snapshot to the
kept indices and loading it into a bank built with fewer members therefore gives the survivors
the same state, and the same future, as in the full bank — at a cost proportional to their
number. ``tests/tune/test_prune.py`` checks it step by step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _take(value, keep: torch.Tensor, k: int):
    """``value`` restricted to members ``keep`` when its leading axis is the member axis K."""
    if isinstance(value, torch.Tensor):
        if value.dim() >= 1 and value.shape[0] == k:
            return value.index_select(0, keep.to(value.device)).clone()
        return value.clone()
    if isinstance(value, dict):
        return {n: _take(v, keep, k) for n, v in value.items()}
    return value


def keep_model_state(state: dict[str, torch.Tensor], template: dict[str, torch.Tensor],
                     keep: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Slice a K-member model state dict to the members ``keep``.

    ``template`` is the state dict of the smaller bank: an entry whose shape does not depend on
    K (same shape in both) is copied, one whose leading axis is K is sliced; anything else means
    the model is not a bank of the expected layout and is refused."""
    out = {}
    for name, t in state.items():
        want = template.get(name)
        if want is None:
            raise ValueError(f"state entry {name!r} is missing from the smaller bank")
        if t.shape == want.shape:
            out[name] = t.clone()
        elif t.dim() >= 1 and t.shape[0] == k and t.shape[1:] == want.shape[1:] \
                and want.shape[0] == keep.numel():
            out[name] = t.index_select(0, keep.to(t.device)).clone()
        else:
            raise ValueError(f"state entry {name!r} of shape {tuple(t.shape)} has no member axis "
                             f"K={k} matching {tuple(want.shape)}")
    return out


def _keep_history(history: dict, keep: Sequence[int], k: int) -> dict:
    def take(v):
        return [v[i] for i in keep] if isinstance(v, list) and len(v) == k else v

    return {
        **history,
        "records": [{key: take(v) for key, v in rec.items()} for rec in history["records"]],
        "status": take(history["status"]),
        "diverged_epoch": take(history["diverged_epoch"]),
    }


def keep_members(snapshot: dict, keep: Sequence[int], *, members: int,
                 template: dict[str, torch.Tensor]) -> dict:
    """A ``fit`` snapshot (``train/loop.py``: model, optimizer, objective, history, epoch) of a
    ``members``-member bank restricted to the member indices ``keep`` (in that order), ready to
    be passed as ``start_state`` to ``fit`` on a bank of ``len(keep)`` members whose state dict
    is ``template``."""
    idx = sorted(set(int(i) for i in keep))
    if not idx or idx[0] < 0 or idx[-1] >= members:
        raise ValueError(f"cannot keep members {list(keep)} of a {members}-member bank")
    keep_t = torch.tensor(idx, dtype=torch.long)
    return {
        **snapshot,
        "model": keep_model_state(snapshot["model"], template, keep_t, members),
        "optimizer": _take(snapshot["optimizer"], keep_t, members),
        "objective": _take(snapshot.get("objective", {}), keep_t, members),
        "history": _keep_history(snapshot["history"], idx, members),
    }
