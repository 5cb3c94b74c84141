"""Logit norm, margin and predictive entropy per member."""

from __future__ import annotations

import math

import pytest
import torch

from tempcheck.analysis.logits import logit_stats, logit_summary, run
from tempcheck.data.base import DatasetSplits, Split
from tempcheck.errors import ConfigError
from tempcheck.eval.base import EvalContext


def test_hand_example():
    z = torch.tensor([[[3.0, 4.0, 0.0]], [[1.0, -1.0, 0.5]]])  # (2, 1, 3)
    y = torch.tensor([0, 0])
    s = logit_stats(z, y, 2.0)
    torch.testing.assert_close(s["norm"][:, 0], torch.tensor([5.0, 1.5]).double())
    torch.testing.assert_close(s["margin"][:, 0], torch.tensor([-1.0, 0.5]).double())
    torch.testing.assert_close(s["margin_tau"][:, 0], torch.tensor([-0.5, 0.25]).double())
    p = torch.softmax(z[0, 0].double() / 2, -1)
    assert float(s["entropy"][0, 0]) == pytest.approx(float(-(p * p.log()).sum()))


def test_entropy_limits_and_scale_invariance():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(50, 1, 10, generator=g)
    y = torch.randint(0, 10, (50,), generator=g)
    hot = logit_stats(z, y, 1e6)["entropy"]
    assert torch.allclose(hot, torch.full_like(hot, math.log(10)), atol=1e-6)
    cold = logit_stats(z, y, 1e-4)["entropy"]
    assert float(cold.max()) < 1e-3
    # softmax(z/τ) depends on z/τ only: z·τ at τ has the entropy and margin/τ of z at 1
    a, b = logit_stats(z, y, 1.0), logit_stats(z * 7.0, y, 7.0)
    torch.testing.assert_close(a["entropy"], b["entropy"])
    torch.testing.assert_close(a["margin"], b["margin_tau"])


def _ctx(options=None):
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 5, (60,), generator=g)
    base = torch.randn(60, 5, generator=g)
    taus = torch.tensor([0.5, 1.0, 4.0])
    z = torch.stack([base * t for t in taus], 1)  # logits scale with τ
    z[:, 1] = float("nan")  # a diverged member
    split = Split(torch.zeros(60, 1), y)
    data = DatasetSplits("toy", split, split, split, 5, 1, 1, (0.0,), (1.0,))
    return EvalContext(model=torch.nn.Identity(), data=data, temperatures=taus,
                       device=torch.device("cpu"), options=options or {},
                       cache={"logits/test": z}), z, y, taus


def test_run_matches_summary_and_handles_diverged_members():
    ctx, z, y, taus = _ctx({"bins": 12})
    result = run(ctx)
    summary = logit_summary(z, y, taus)
    assert set(result.columns) == {"logit_norm_mean", "logit_margin_mean",
                                   "logit_margin_tau_mean", "softmax_entropy_mean"}
    for name, values in result.columns.items():
        assert math.isnan(values[1])
        assert values[0] == pytest.approx(summary[name][0])
        assert values[2] == pytest.approx(summary[name][2])
    # members 0 and 2 have the same z/τ: the same entropy and margin/τ, norms 8× apart
    cols = result.columns
    assert cols["softmax_entropy_mean"][0] == pytest.approx(cols["softmax_entropy_mean"][2])
    assert cols["logit_margin_tau_mean"][0] == pytest.approx(cols["logit_margin_tau_mean"][2])
    assert cols["logit_norm_mean"][2] == pytest.approx(8 * cols["logit_norm_mean"][0])
    arr = result.arrays
    assert arr["norm_hist"].shape == (3, 12) and arr["norm_edges"].shape == (3, 13)
    assert arr["entropy_edges"].shape == (13,)
    assert list(arr["norm_hist"].sum(1)) == [60, 0, 60]
    assert list(arr["entropy_hist"].sum(1)) == [60, 0, 60]
    assert result.info["n_examples"] == 60


def test_options():
    ctx, *_ = _ctx({"n_examples": 20})
    assert run(ctx).info["n_examples"] == 20
    with pytest.raises(ConfigError, match="eval.logits.bogus"):
        run(_ctx({"bogus": 1})[0])
