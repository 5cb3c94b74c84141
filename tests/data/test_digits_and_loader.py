"""Embedded digits splits and the seeded tensor-resident loader."""

from __future__ import annotations

import torch

from tempcheck.data.base import Split
from tempcheck.data.loader import BatchLoader
from tempcheck.registry import load_dataset


def test_digits_splits_are_fixed_stratified_and_scaled():
    d = load_dataset("digits")
    assert len(d.train) + len(d.val) + len(d.test) == 1797
    assert d.train.x.shape[1:] == (1, 8, 8)
    assert float(d.train.x.min()) >= 0 and float(d.train.x.max()) <= 1
    for split in (d.train, d.val, d.test):
        counts = torch.bincount(split.y, minlength=10).float()
        assert counts.min() / counts.max() > 0.85  # every class in every split, balanced
    again = load_dataset("digits")
    assert torch.equal(again.test.y, d.test.y) and torch.equal(again.val.x, d.val.x)
    other = load_dataset("digits", split_seed=1)
    assert not torch.equal(other.test.x, d.test.x)


def test_loader_order_depends_on_seed_and_epoch_only():
    split = Split(torch.arange(100).float().view(100, 1, 1, 1), torch.arange(100))
    a = BatchLoader(split, batch_size=30, shuffle=True, seed=1)
    b = BatchLoader(split, batch_size=30, shuffle=True, seed=1)
    ya = torch.cat([y for _, y in a.epoch(3)])
    assert torch.equal(ya, torch.cat([y for _, y in b.epoch(3)]))
    assert sorted(ya.tolist()) == list(range(100))
    assert not torch.equal(ya, torch.cat([y for _, y in a.epoch(4)]))
    assert len(a) == 4 and len(BatchLoader(split, batch_size=30, drop_last=True)) == 3
