"""Metrics: closed forms, a hand-computed case, calibrated synthetic sets, banked = per member."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tempcheck import metrics

# Hand case: 6 samples, 3 classes; logits = log p so softmax recovers p exactly. No value sits on
# a bin edge of 5 equal-width bins (0.2, 0.4, ...).
P = [[0.7, 0.18, 0.12], [0.5, 0.32, 0.18], [0.05, 0.9, 0.05],
     [0.25, 0.3, 0.45], [0.1, 0.15, 0.75], [0.85, 0.1, 0.05]]
Y = [0, 1, 1, 0, 2, 2]


def hand_case(dtype=torch.float64):
    return torch.tensor(P, dtype=torch.float64).log().to(dtype), torch.tensor(Y)


def test_hand_case_exact_values():
    z, y = hand_case()
    # top label: conf 0.7 ✓, 0.5 ✗, 0.9 ✓, 0.45 ✗, 0.75 ✓, 0.85 ✗ (✓ = correct).
    # 5 bins: (0.4,0.6] {0.5✗, 0.45✗} gap 0.475; (0.6,0.8] {0.7✓, 0.75✓} gap 0.275;
    # (0.8,1] {0.9✓, 0.85✗} gap |0.5 − 0.875| = 0.375. Each bin holds 2 of 6.
    assert metrics.ece(z, y, n_bins=5) == pytest.approx((0.475 + 0.275 + 0.375) * 2 / 6, 1e-12)
    assert metrics.mce(z, y, n_bins=5) == pytest.approx(0.475, abs=1e-12)
    # 2 equal-mass bins: {0.45✗, 0.5✗, 0.7✓}: |1 − 1.65|; {0.75✓, 0.85✗, 0.9✓}: |2 − 2.5|.
    assert metrics.adaptive_ece(z, y, n_bins=2) == pytest.approx((0.65 + 0.5) / 6, abs=1e-12)
    # Brier per sample: 0.1368, 0.7448, 0.015, 0.855, 0.095, 1.635.
    assert metrics.brier(z, y) == pytest.approx(3.4816 / 6, abs=1e-12)
    # class-wise, 5 bins: class 0 Σ|hits − Σp| = 0.15 + 0.75 + 0.5 + 0.3 + 0.85 = 2.55,
    # class 1: 0.43 + 0.38 + 0.1 = 0.91, class 2: 0.6 + 0.45 + 0.25 = 1.3; mean over 3 classes.
    assert metrics.classwise_ece(z, y, n_bins=5) == pytest.approx(4.76 / 18, abs=1e-12)
    p_true = [0.7, 0.32, 0.9, 0.25, 0.75, 0.05]
    assert metrics.nll(z, y) == pytest.approx(-sum(map(math.log, p_true)) / 6, abs=1e-12)
    assert metrics.accuracy(z, y) == pytest.approx(0.5)


def test_hand_case_reliability_bins():
    z, y = hand_case()
    bins = metrics.reliability_bins(z, y, n_bins=5)
    np.testing.assert_allclose(bins["edges"], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_array_equal(bins["counts"], [0, 0, 2, 2, 2])
    np.testing.assert_allclose(bins["accuracy"], [np.nan, np.nan, 0, 1, 0.5])
    np.testing.assert_allclose(bins["confidence"], [np.nan, np.nan, 0.475, 0.725, 0.875])


def test_float32_matches_float64():
    z, y = hand_case(torch.float32)
    for fn, n_bins in ((metrics.ece, 5), (metrics.mce, 5), (metrics.adaptive_ece, 2),
                       (metrics.classwise_ece, 5)):
        assert fn(z, y, n_bins) == pytest.approx(fn(z.double(), y, n_bins), abs=1e-6)


def _noise_scale(conf: np.ndarray, bins: np.ndarray, n_bins: int) -> float:
    """Σ_b σ_b with σ_b = sd(Σ_{i∈b} correct_i)/n under perfect calibration: the ECE expected
    from sampling alone is about √(2/π) ≈ 0.8 times this."""
    var = np.bincount(bins, weights=conf * (1 - conf), minlength=n_bins)
    return float(np.sqrt(var).sum() / conf.size)


def _calibrated_set(scale: float, n: int = 20_000, c: int = 10, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    y = torch.multinomial(z.softmax(-1), 1, generator=g).squeeze(1)  # y ~ softmax(z)
    return z, y


@pytest.mark.parametrize("scale", [0.5, 2.0, 5.0])
def test_calibrated_set_has_ece_within_sampling_noise(scale):
    z, y = _calibrated_set(scale)
    conf = z.softmax(-1).max(-1).values.numpy()
    width_bins = np.clip(np.ceil(conf * 15), 1, 15).astype(int) - 1
    mass_bins = np.empty(conf.size, dtype=int)
    for b, chunk in enumerate(np.array_split(np.argsort(conf, kind="stable"), 15)):
        mass_bins[chunk] = b
    # Under perfect calibration ECE is a sum over bins of |N(0, σ_b)| (normal approximation);
    # 3 Σ σ_b is exceeded with probability ≤ 0.3% even when one bin holds all the mass (and far
    # less when mass is spread). The draw is seeded, so the test is deterministic.
    assert metrics.ece(z, y) < 3 * _noise_scale(conf, width_bins, 15)
    assert metrics.adaptive_ece(z, y) < 3 * _noise_scale(conf, mass_bins, 15)
    p = z.softmax(-1).numpy()
    per_class = [_noise_scale(p[:, k], np.clip(np.ceil(p[:, k] * 15), 1, 15).astype(int) - 1, 15)
                 for k in range(p.shape[1])]
    assert metrics.classwise_ece(z, y) < 3 * float(np.mean(per_class))
    # The same bound catches a miscalibrated model: sharpen the logits twofold.
    assert metrics.ece(2 * z, y) > 3 * _noise_scale(conf, width_bins, 15)


def test_ece_matches_naive_loop():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(500, 7, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 7, (500,), generator=g)
    p = z.softmax(-1)
    conf, pred = p.max(-1)
    total, worst = 0.0, 0.0
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        inside = (conf > lo) & (conf <= hi) if b else (conf <= hi)
        if inside.any():
            gap = abs((pred[inside] == y[inside]).double().mean() - conf[inside].mean()).item()
            total += inside.sum().item() / 500 * gap
            worst = max(worst, gap)
    assert metrics.ece(z, y, 10) == pytest.approx(total, abs=1e-12)
    assert metrics.mce(z, y, 10) == pytest.approx(worst, abs=1e-12)


def test_reliability_bins_reproduce_ece():
    z, y = _calibrated_set(3.0, n=3000)
    bins = metrics.reliability_bins(z, y, 12)
    full = bins["counts"] > 0
    gap = np.abs(bins["accuracy"][full] - bins["confidence"][full])
    assert bins["counts"].sum() == 3000
    assert float((bins["counts"][full] * gap).sum() / 3000) == pytest.approx(
        metrics.ece(z, y, 12), abs=1e-12)
    assert float(gap.max()) == pytest.approx(metrics.mce(z, y, 12), abs=1e-12)


def test_banked_equals_per_member():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(400, 4, 6, generator=g) * torch.tensor([0.3, 1.0, 3.0, 9.0]).view(1, 4, 1)
    y = torch.randint(0, 6, (400,), generator=g)
    for fn in (metrics.ece, metrics.adaptive_ece, metrics.classwise_ece, metrics.mce,
               metrics.brier, metrics.nll, metrics.accuracy):
        banked = fn(z, y)
        assert banked.shape == (4,)
        for k in range(4):
            assert float(banked[k]) == pytest.approx(fn(z[:, k], y), rel=1e-5, abs=1e-6)
    banked = metrics.reliability_bins(z, y, 8)
    assert banked["counts"].shape == (4, 8) and banked["edges"].shape == (9,)
    for k in range(4):
        single = metrics.reliability_bins(z[:, k], y, 8)
        for key in ("counts", "confidence", "accuracy"):
            np.testing.assert_allclose(banked[key][k], single[key], atol=1e-6)


def test_shift_invariance_and_perfect_confident_model():
    z, y = _calibrated_set(2.0, n=1000)
    shifted = z + torch.randn(1000, 1, dtype=torch.float64) * 5  # softmax ignores row shifts
    for fn in (metrics.ece, metrics.adaptive_ece, metrics.classwise_ece, metrics.mce):
        assert fn(shifted, y) == pytest.approx(fn(z, y), abs=1e-9)
    sure = torch.nn.functional.one_hot(y, 10).double() * 100.0  # right and certain
    for fn in (metrics.ece, metrics.adaptive_ece, metrics.classwise_ece, metrics.mce,
               metrics.brier):
        assert fn(sure, y) == pytest.approx(0.0, abs=1e-12)


def test_adaptive_bins_hold_equal_mass():
    z, y = _calibrated_set(2.0, n=1003)
    bins = metrics._equal_mass_bins(z.softmax(-1).max(-1).values.unsqueeze(1), 10)
    sizes = torch.bincount(bins.flatten(), minlength=10)
    assert int(sizes.max() - sizes.min()) <= 1 and int(sizes.sum()) == 1003


@pytest.mark.parametrize("n_bins", [0, -1, 2.5, True])
def test_bad_bin_count(n_bins):
    z, y = hand_case()
    with pytest.raises(ValueError, match="n_bins"):
        metrics.adaptive_ece(z, y, n_bins)
