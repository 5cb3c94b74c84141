"""Vector scaling: a MAP fit centred on temperature scaling that converges on small validation
sets, and a fit that did not converge is reported as such (results, eval.json, report)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tempcheck import metrics
from tempcheck.data.base import DatasetSplits, Split
from tempcheck.eval.base import EvalContext
from tempcheck.eval.calibration import run
from tempcheck.eval.scaling import (
    DEFAULT_PRIOR_SD,
    VectorScaler,
    fit_temperature,
    fit_vector_scaling,
)
from tempcheck.report.rundata import RunData
from tempcheck.report.section_calibration import build


def confident(n: int, seed: int, *, sharpen: float = 3.0):
    """A digits-sized problem: 10 classes, ~92% accurate, labels drawn from softmax(z) (so z is
    calibrated) and the logits then sharpened (an overconfident member)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    z = torch.randn(n, 10, generator=g, dtype=torch.float64) * 1.5
    z[torch.arange(n), y] += 6.0
    y = torch.multinomial(z.softmax(-1), 1, generator=g).squeeze(1)
    return z * sharpen, y


def objective(z, y, fit, k=0):
    """The MAP objective at the fitted (w, b) of member k, recomputed by autograd in (u, b)."""
    t = fit.temperature[k]
    u = (fit.weight[k] * t - 1.0).clone().requires_grad_(True)
    b = fit.bias[k].clone().requires_grad_(True)
    out = F.cross_entropy((z / t) * (1 + u) + b, y)
    out = out + 0.5 * fit.penalty * (u.square().sum() + b.square().sum())
    out.backward()
    return out, u.grad, b.grad


def test_converges_on_a_small_overconfident_validation_set_and_does_not_overfit():
    z_val, y_val = confident(179, 0)  # the demo's validation size
    z_test, y_test = confident(20_000, 1)
    ts = fit_temperature(z_val, y_val)
    fit = fit_vector_scaling(z_val, y_val, init_temperature=ts.temperature)
    assert fit.converged == [True] and float(fit.final_grad[0]) < 1e-6
    assert fit.prior_sd == DEFAULT_PRIOR_SD
    assert fit.penalty == pytest.approx(1.0 / (DEFAULT_PRIOR_SD**2 * 179))  # λ = 1/(σ² N)
    # the first-order conditions hold by an independent autograd computation ...
    value, gu, gb = objective(z_val, y_val, fit)
    assert float(gu.abs().max()) < 1e-5 and float(gb.abs().max()) < 1e-5
    assert float(value.detach()) == pytest.approx(float(fit.objective[0]), rel=1e-12)
    # ... the flat direction of the NLL (b + const) is pinned: Σ_c b_c = 0 at the optimum
    assert abs(float(fit.bias[0].sum())) < 1e-6
    nll = {name: float(metrics.nll(s.apply(z_test).unsqueeze(1), y_test)) for name, s in (
        ("ts", _temperature(ts.temperature)), ("vs", VectorScaler(fit.weight, fit.bias)))}
    plain = fit_vector_scaling(z_val, y_val, init_temperature=ts.temperature, prior_sd=math.inf)
    nll["ml"] = float(metrics.nll(VectorScaler(plain.weight, plain.bias).apply(z_test)
                                  .unsqueeze(1), y_test))
    # the data are calibrated after temperature scaling: the prior keeps vector scaling close
    # to it, where plain maximum likelihood overfits the 179 rows
    assert nll["vs"] < nll["ts"] + 0.1, nll
    assert nll["ml"] > nll["ts"] + 0.5 and nll["ml"] > nll["vs"] + 0.4


def _temperature(t):
    from tempcheck.eval.scaling import TemperatureScaler

    return TemperatureScaler(temperature=t.tolist())


def test_the_prior_fades_with_many_rows_and_recovers_per_class_scales():
    z, y = confident(30_000, 2, sharpen=1.0)
    a = torch.linspace(0.5, 2.0, 10, dtype=torch.float64)
    fit = fit_vector_scaling(z * a, y)
    assert fit.converged == [True]
    assert fit.weight[0].tolist() == pytest.approx((1 / a).tolist(), rel=0.05)


def test_banked_fit_equals_separate_fits():
    z1, y = confident(300, 3)
    z = torch.stack([z1, z1 * 0.5, z1 * 2.0], dim=1)
    bank = fit_vector_scaling(z, y)
    for k in range(3):
        alone = fit_vector_scaling(z[:, k], y)
        assert torch.allclose(bank.weight[k], alone.weight[0], atol=1e-5)
        assert torch.allclose(bank.bias[k], alone.bias[0], atol=1e-5)


def test_a_fit_that_runs_out_of_iterations_says_so():
    z, y = confident(179, 4)
    fit = fit_vector_scaling(z, y, prior_sd=math.inf, max_iter=2, max_rounds=1)
    assert fit.converged == [False] and fit.member_info(0)["converged"] is False
    assert fit.penalty == 0.0 and fit.member_info(0)["prior_sd"] == math.inf
    with pytest.raises(ValueError, match="prior_sd"):
        fit_vector_scaling(z, y, prior_sd=0.0)


def _context(z_val, y_val, z_test, y_test, taus, options):
    dummy = Split(torch.zeros(len(y_val), 1), y_val)
    data = DatasetSplits("synthetic", dummy, dummy, Split(torch.zeros(len(y_test), 1), y_test),
                         num_classes=10, in_channels=1, image_size=1, mean=(0.0,), std=(1.0,))
    return EvalContext(model=torch.nn.Identity(), data=data,
                       temperatures=torch.tensor(taus, dtype=torch.float32),
                       device=torch.device("cpu"), options=options,
                       cache={"logits/val": z_val.float(), "logits/test": z_test.float()})


def test_the_evaluation_and_the_report_flag_an_unconverged_vector_fit(tmp_path):
    (z1, y_val), (t1, y_test) = confident(179, 5), confident(500, 6)
    z_val, z_test = torch.stack([z1, z1 * 0.5], 1), torch.stack([t1, t1 * 0.5], 1)
    converged = run(_context(z_val, y_val, z_test, y_test, [1.0, 2.0], {}))
    assert converged.columns["vs_converged"] == [True, True]
    assert converged.info["vs_prior_sd"] == DEFAULT_PRIOR_SD
    starved = run(_context(z_val, y_val, z_test, y_test, [1.0, 2.0],
                           {"vs_prior_sd": math.inf, "max_iter": 1}))
    assert starved.columns["vs_converged"] == [False, False]
    assert starved.info["vs_prior_sd"] is None  # JSON-safe: no prior
    assert all(m["vs"]["converged"] is False for m in starved.info["members"])
    assert all(math.isfinite(v) for v in starved.columns["test_ece_vs"])  # still reported ...

    def report(result) -> str:
        rows = [{"group": "g", "member": float(m), "temperature": tau, "seed": 0.0,
                 "status": "ok", **{c: (str(v[m]) if c == "vs_converged" else float(v[m]))
                                    for c, v in result.columns.items()}}
                for m, tau in enumerate((1.0, 2.0))]
        return build(RunData(root=tmp_path, results=rows,
                             evals={"g": {"calibration": result.info}})).markdown

    md = report(starved)  # ... and flagged in the report
    assert "vector scaling did not converge for τ = 1 (seed 0), τ = 2 (seed 0)" in md
    assert md.count(" † |") == 4  # ECE and NLL vector cells of both τ
    assert "without a prior" in md and "0 of 2 fits converged" in md
    md = report(converged)
    assert "†" not in md and "did not converge" not in md
    assert "N(0, 0.5²) priors" in md and "2 of 2 fits converged" in md
