"""Temperature / vector scaling and the ``calibration`` evaluation."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tempcheck import metrics
from tempcheck.data.base import DatasetSplits, Split
from tempcheck.errors import ConfigError, DataError
from tempcheck.eval.base import EvalContext
from tempcheck.eval.calibration import (
    COLUMNS,
    ProbabilityInputWarning,
    TemperatureScaler,
    VectorScaler,
    fit_temperature,
    load_scaler,
    run,
)

SHARPEN = (2.5, 0.5)  # observed logits = s · calibrated logits, so the right T is s


def calibrated(n: int, c: int = 10, scale: float = 2.0, seed: int = 0):
    """Logits z (N, C) and labels drawn from softmax(z): a perfectly calibrated set."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    return z, torch.multinomial(z.softmax(-1), 1, generator=g).squeeze(1)


def sharpened(n: int, seed: int):
    """Banked (N, 2, C): member k is the calibrated set sharpened by SHARPEN[k]."""
    z, y = calibrated(n, seed=seed)
    return torch.stack([z * s for s in SHARPEN], dim=1), y


@pytest.fixture(scope="module")
def val_test():
    return sharpened(50_000, seed=1), sharpened(100_000, seed=2)


def autograd_slope(z: torch.Tensor, y: torch.Tensor, t: float) -> float:
    """∂NLL/∂log T at T by autograd, independent of the fitter's analytic gradient."""
    s = torch.tensor(math.log(t), dtype=torch.float64, requires_grad=True)
    F.cross_entropy(z.double() / s.exp(), y).backward()
    return float(s.grad)


def test_recovers_known_sharpening_and_calibrates_test_split(val_test):
    (z_val, y_val), (z_test, y_test) = val_test
    fit = fit_temperature(z_val, y_val)
    for k, s in enumerate(SHARPEN):
        assert float(fit.temperature[k]) == pytest.approx(s, rel=0.02)
        scaled = z_test[:, k] / fit.temperature[k]
        assert metrics.ece(z_test[:, k], y_test) > 0.05  # miscalibrated before
        assert metrics.ece(scaled, y_test) < 0.01
        assert metrics.accuracy(scaled, y_test) == metrics.accuracy(z_test[:, k], y_test)
    assert fit.bound_hit == ["", ""]


def test_fit_converges_to_tight_gradient(val_test):
    (z_val, y_val), _ = val_test
    fit = fit_temperature(z_val, y_val)
    assert all(fit.converged)
    for k in range(2):
        assert abs(float(fit.final_grad[k])) < 1e-6
        assert abs(autograd_slope(z_val[:, k], y_val, float(fit.temperature[k]))) < 1e-6
        assert fit.iterations[k] >= 1
    # a visible step away from the fitted T has a clearly non-zero slope (the check can fail)
    assert abs(autograd_slope(z_val[:, 0], y_val, float(fit.temperature[0]) * 1.05)) > 1e-3


def test_banked_fit_equals_separate_fits():
    z, y = calibrated(4000, seed=3)
    scales = (0.3, 1.0, 2.5, 7.0)
    bank = torch.stack([z * s for s in scales], 1)  # (N, 4, C)
    joint = fit_temperature(bank, y)
    for k in range(4):
        alone = fit_temperature(bank[:, k], y)
        assert float(joint.temperature[k]) == pytest.approx(float(alone.temperature[0]),
                                                            rel=1e-7)
        assert float(joint.nll[k]) == pytest.approx(float(alone.nll[0]), abs=1e-12)


def test_probability_input_warns():
    z, y = calibrated(500, seed=4)
    with pytest.warns(ProbabilityInputWarning, match="probabilities"):
        fit_temperature(z.softmax(-1), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProbabilityInputWarning)
        fit_temperature(z.log_softmax(-1), y)  # log-probabilities are valid logits


def test_bounds_guard_separable_and_reports():
    z, y = calibrated(2000, seed=5)
    separable = F.one_hot(y, 10).double() * 4 + 0.1 * z  # every sample right, with margin
    hopeless = -separable  # the true class is always the lowest: T → ∞ is best
    bank = torch.stack([separable, hopeless, z * 2.5], 1)
    fit = fit_temperature(bank, y, lower=0.05, upper=1.5)
    assert fit.bound_hit == ["lower", "upper", "upper"]  # the last one's optimum is T = 2.5
    assert fit.limit == ["lower", "upper", ""]  # no finite minimiser for the first two
    assert fit.temperature.tolist() == pytest.approx([0.05, 1.5, 1.5])
    assert fit.iterations[:2] == [0, 0] and all(fit.converged)
    assert fit.final_grad[2] < 0  # NLL still falling at the upper bound
    free = fit_temperature(z * 2.5, y, lower=0.05, upper=100.0)
    assert free.bound_hit == [""] and 2.3 < float(free.temperature[0]) < 2.7


def test_constant_logits_are_flat():
    y = torch.arange(10) % 3
    fit = fit_temperature(torch.zeros(10, 3), y)
    assert fit.bound_hit == ["flat"] and float(fit.temperature[0]) == pytest.approx(1.0)


@pytest.mark.parametrize("bad, match", [
    (lambda z: z.masked_fill(torch.rand(z.shape) < 0.01, float("nan")), "NaN"),
    (lambda z: z.masked_fill(torch.rand(z.shape) < 0.01, float("inf")), "NaN or inf"),
])
def test_non_finite_logits_rejected(bad, match):
    z, y = calibrated(300, seed=6)
    with pytest.raises(DataError, match=match):
        fit_temperature(bad(z), y)


def test_labels_out_of_range_rejected():
    z, y = calibrated(300, seed=6)
    with pytest.raises(DataError, match="labels"):
        fit_temperature(z, y + 10)


def test_vector_scaling_fixes_per_class_miscalibration():
    z, y = calibrated(30_000, c=5, seed=7)
    a = torch.tensor([0.5, 1.0, 2.0, 3.0, 1.5], dtype=torch.float64)
    b = torch.tensor([0.3, -0.2, 0.0, 0.5, -0.6], dtype=torch.float64)
    observed = z * a + b
    vs = VectorScaler().fit(observed, y)
    ts = TemperatureScaler().fit(observed, y)
    assert all(vs.result.converged) and float(vs.result.final_grad.max()) < 1e-6
    assert float(vs.result.nll[0]) < float(ts.result.nll[0]) - 0.01
    # w ⊙ (a z + b) + b' = z up to a per-row constant: w ≈ 1 / a
    assert vs.weight[0].tolist() == pytest.approx((1 / a).tolist(), rel=0.05)
    assert metrics.ece(vs(observed), y) < 0.015


def test_scalers_save_load_apply(tmp_path):
    z, y = calibrated(2000, seed=8)
    bank = torch.stack([z * 2, z * 0.7], 1)
    ts = TemperatureScaler().fit(bank, y)
    path = ts.save(tmp_path / "ts.json")
    back = TemperatureScaler.load(path)
    assert back.temperature.tolist() == ts.temperature.tolist()
    torch.testing.assert_close(back(bank), bank / ts.temperature.view(1, 2, 1))
    assert json.loads(path.read_text())["fit"][0]["converged"] is True
    g = torch.Generator().manual_seed(9)
    vs = VectorScaler(torch.rand(2, 10, generator=g, dtype=torch.float64) + 0.5,
                      torch.randn(2, 10, generator=g, dtype=torch.float64))
    again = load_scaler(vs.save(tmp_path / "vs.json"))
    assert isinstance(again, VectorScaler)
    torch.testing.assert_close(again.apply(bank), bank * vs.weight + vs.bias)
    assert isinstance(load_scaler(ts.to_dict()), TemperatureScaler)
    single = TemperatureScaler(temperature=[2.0])
    torch.testing.assert_close(single(z), z / 2)
    with pytest.raises(ValueError, match="banked"):
        ts.apply(z)


@pytest.mark.parametrize("content, match", [
    ("{not json", "cannot read"),
    ('{"format": "other"}', "format"),
    ('{"format": "tempcheck.scaler", "kind": "temperature", "temperature": [-1]}', "malformed"),
    ('{"format": "tempcheck.scaler", "kind": "vector", "weight": [[1]], "bias": [1]}',
     "malformed"),
])
def test_bad_scaler_files(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        load_scaler(path) if "vector" in content else TemperatureScaler.load(path)
    with pytest.raises(DataError, match="no such"):
        TemperatureScaler.load(tmp_path / "missing.json")


# -- the evaluation -----------------------------------------------------------------------------

def make_context(z_val, y_val, z_test, y_test, temperatures, options=None) -> EvalContext:
    """A context whose logits are already cached (the model is never called)."""
    dummy = Split(torch.zeros(len(y_val), 1), y_val)
    data = DatasetSplits("synthetic", dummy, dummy, Split(torch.zeros(len(y_test), 1), y_test),
                         num_classes=int(z_val.shape[-1]), in_channels=1, image_size=1,
                         mean=(0.0,), std=(1.0,))
    return EvalContext(model=torch.nn.Identity(), data=data,
                       temperatures=torch.tensor(temperatures, dtype=torch.float32),
                       device=torch.device("cpu"), options=options or {},
                       cache={"logits/val": z_val.float(), "logits/test": z_test.float()})


def test_evaluation_columns_arrays_info():
    (z_val, y_val), (z_test, y_test) = sharpened(6000, 10), sharpened(6000, 11)
    nan = torch.full_like(z_val[:, :1], float("nan"))
    z_val = torch.cat([z_val, nan], 1)  # member 2 diverged
    z_test = torch.cat([z_test, nan[: len(z_test)]], 1)
    result = run(make_context(z_val, y_val, z_test, y_test, [1.0, 0.5, 2.0], {"n_bins": 10}))
    assert set(result.columns) == set(COLUMNS)
    assert all(len(v) == 3 for v in result.columns.values())
    cols = result.columns
    assert cols["ts_temperature"][0] == pytest.approx(2.5, rel=0.05)
    assert cols["ts_relative_temperature"][1] == pytest.approx(cols["ts_temperature"][1] / 0.5)
    for m in range(2):
        assert cols["test_ece_ts"][m] < cols["test_ece_raw"][m]
        assert cols["test_nll_ts"][m] < cols["test_nll_raw"][m]
        assert cols["test_nll_vs"][m] == pytest.approx(cols["test_nll_ts"][m], abs=0.02)
    assert all(math.isnan(cols[c][2]) for c in COLUMNS)  # the diverged member
    # metrics agree with tempcheck.metrics at the training τ, and on the raw test logits
    assert cols["test_ece"][0] == pytest.approx(metrics.ece(z_test[:, 0].float(), y_test, 10))
    assert cols["test_nll"][1] == pytest.approx(
        metrics.nll(z_test[:, 1].double() / 0.5, y_test), rel=1e-5)
    assert cols["test_nll_raw"][1] == pytest.approx(
        metrics.nll(z_test[:, 1].double(), y_test), rel=1e-5)
    arrays = result.arrays
    assert arrays["rel_edges"].shape == (11,)
    for prefix in ("rel_raw", "rel_tau", "rel_ts"):
        assert arrays[f"{prefix}_counts"].shape == (3, 10)
        assert arrays[f"{prefix}_counts"][:2].sum(1).tolist() == [6000, 6000]
        assert np.isnan(arrays[f"{prefix}_accuracy"][2]).all()
    # accuracy is unchanged by temperature scaling: same correct count before and after
    for m in range(2):
        correct = [np.nansum(arrays[f"{p}_counts"][m] * arrays[f"{p}_accuracy"][m])
                   for p in ("rel_raw", "rel_ts")]
        assert correct[0] == pytest.approx(correct[1])
        assert correct[0] / 6000 == pytest.approx(cols["test_acc"][m])
    members = result.info["members"]
    assert members[2]["skipped"].startswith("non-finite")
    assert members[0]["converged"] and abs(members[0]["final_grad"]) < 1e-6
    assert members[0]["vs"]["converged"]
    json.dumps(result.info, allow_nan=False)


def test_evaluation_options():
    (z_val, y_val), (z_test, y_test) = sharpened(500, 12), sharpened(500, 13)
    ctx = make_context(z_val, y_val, z_test, y_test, [1.0, 1.0], {"vector_scaling": False})
    cols = run(ctx).columns
    assert all(math.isnan(v) for v in cols["test_ece_vs"])
    assert not any(math.isnan(v) for v in cols["test_ece_ts"])
    for options, match in (({"bins": 3}, "unknown option"), ({"n_bins": 0}, "n_bins"),
                           ({"t_min": 2.0, "t_max": 1.0}, "t_min")):
        with pytest.raises(ConfigError, match=match):
            run(make_context(z_val, y_val, z_test, y_test, [1.0, 1.0], options))


def test_evaluation_on_a_real_bank():
    from tempcheck.data.digits import load_digits_splits
    from tempcheck.models.mlp import BankMLP

    data = load_digits_splits()
    model = BankMLP(members=2, hidden=(16,), **data.model_kwargs()).eval()
    ctx = EvalContext(model=model, data=data, temperatures=torch.tensor([0.5, 2.0]),
                      device=torch.device("cpu"), options={"vector_scaling": False})
    result = run(ctx)
    assert all(math.isfinite(v) for v in result.columns["ts_temperature"])
    assert result.columns["test_acc"] == pytest.approx(
        metrics.accuracy(ctx.cache["logits/test"], data.test.y).tolist())


def test_evaluation_separable_member():
    (z_val, y_val), (z_test, y_test) = sharpened(800, 14), sharpened(800, 15)
    z_val[:, 1] = F.one_hot(y_val, 10).float() * 5  # member 1 separates the validation set
    result = run(make_context(z_val, y_val, z_test, y_test, [1.0, 2.0]))
    info = result.info["members"][1]
    assert info["bound_hit"] == "lower" and info["limit"] == "lower"
    assert info["temperature"] == pytest.approx(min(2.0, 1.0) * 0.01)  # min(τ, 1)·t_min
    assert "no finite minimiser" in info["vs"]["skipped"]
    assert math.isnan(result.columns["test_ece_vs"][1])
    assert not math.isnan(result.columns["test_ece_vs"][0])
