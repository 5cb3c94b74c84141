"""The per-epoch probe statistics merge gradient balance and logit statistics per member."""

from __future__ import annotations

import json
import math

import torch

from tempcheck.analysis.epoch import epoch_statistics
from tempcheck.analysis.gradients import gradient_balance_means
from tempcheck.analysis.logits import logit_summary


def test_epoch_statistics():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 3, 6, generator=g)
    y = torch.randint(0, 6, (32,), generator=g)
    z[:, 2] = float("inf")
    tau = torch.tensor([0.5, 2.0, 1.0])
    stats = epoch_statistics(z, y, tau)
    expected = {**gradient_balance_means(z, y, tau), **logit_summary(z, y, tau)}
    assert stats.keys() == expected.keys() and len(stats) == 9
    for key, values in stats.items():
        assert len(values) == 3 and values[2] is None and math.isnan(expected[key][2])
        assert values[:2] == expected[key][:2]
    assert stats["grad_q_entropy"][0] < stats["grad_q_entropy"][1]  # hotter, more balanced
    json.dumps(stats, allow_nan=False)  # a metrics.jsonl record: strict JSON
