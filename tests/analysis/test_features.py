"""Feature geometry: PCA, t-SNE, separation numbers and the linear probe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tempcheck.analysis.features import (
    linear_probe_accuracy,
    pca_2d,
    run,
    silhouette,
    tsne_2d,
    within_between_ratio,
)
from tempcheck.errors import ConfigError
from tempcheck.eval.base import EvalContext
from tempcheck.registry import create_model, load_dataset


def _clusters(spread: float, n: int = 120, d: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, d)) * 3
    y = np.repeat(np.arange(4), n // 4)
    return centres[y] + spread * rng.standard_normal((n, d)), y


def test_separation_orders_separated_before_overlapping():
    tight, y = _clusters(0.2)
    loose, _ = _clusters(4.0)
    assert silhouette(tight, y) > 0.7 > silhouette(loose, y)
    assert within_between_ratio(tight, y) < 0.05 < within_between_ratio(loose, y)
    acc_tight = linear_probe_accuracy(tight[::2], y[::2], tight[1::2], y[1::2])
    acc_loose = linear_probe_accuracy(loose[::2], y[::2], loose[1::2], y[1::2])
    assert acc_tight == 1.0 and acc_loose < acc_tight


def test_within_between_closed_form():
    f = np.array([[0.0], [2.0], [10.0], [12.0]])
    y = np.array([0, 0, 1, 1])
    # within: 4 × 1² = 4; between: 2·5² + 2·5² = 100
    assert within_between_ratio(f, y) == pytest.approx(0.04)
    assert within_between_ratio(f * 3.7 + 1, y) == pytest.approx(0.04)  # scale/shift-free
    assert math.isnan(within_between_ratio(f, np.zeros(4)))


def test_pca_of_planar_data_is_an_isometry():
    rng = np.random.default_rng(1)
    plane = rng.standard_normal((50, 2)) * [3.0, 1.0]
    basis, _ = np.linalg.qr(rng.standard_normal((10, 2)))
    emb, ratio = pca_2d(plane @ basis.T + 5.0)
    assert ratio.sum() == pytest.approx(1.0)
    assert ratio[0] > ratio[1]

    def dists(a):
        return np.linalg.norm(a[:, None] - a[None], axis=-1)

    np.testing.assert_allclose(dists(emb), dists(plane), atol=1e-9)


def test_tsne_shape_and_perplexity_cap():
    f, y = _clusters(0.3, n=12)
    emb = tsne_2d(f, seed=0)  # perplexity capped at (12 − 1)/3
    assert emb.shape == (12, 2) and np.isfinite(emb).all()
    np.testing.assert_array_equal(emb, tsne_2d(f, seed=0))  # seeded


def _ctx(options):
    data = load_dataset("digits")
    model = create_model("mlp", members=2, seeds=[0, 1], hidden=(16,),
                         **data.model_kwargs()).eval()
    return EvalContext(model=model, data=data, temperatures=torch.tensor([0.5, 2.0]),
                       device=torch.device("cpu"), options=options)


def test_run_shapes():
    result = run(_ctx({"points": 40, "probe_examples": 200, "probe_iter": 20}))
    assert set(result.columns) == {"feat_silhouette", "feat_within_between", "feat_probe_acc"}
    assert all(len(v) == 2 and all(math.isfinite(x) for x in v)
               for v in result.columns.values())
    a = result.arrays
    assert a["tsne"].shape == a["pca"].shape == (2, 40, 2)
    assert a["labels"].shape == a["indices"].shape == (40,)
    assert a["pca_explained"].shape == (2, 2)
    assert result.info["points"] == 40 and result.info["probe_examples"] == 200
    assert result.info["perplexity"] == pytest.approx(13.0)


def test_run_without_tsne_and_probe_and_bad_options():
    result = run(_ctx({"points": 30, "tsne": False, "probe": False}))
    assert "tsne" not in result.arrays
    assert all(math.isnan(v) for v in result.columns["feat_probe_acc"])
    with pytest.raises(ConfigError, match="tsne_iter"):
        run(_ctx({"tsne_iter": 100}))
    with pytest.raises(ConfigError, match="eval.features.colour"):
        run(_ctx({"colour": "red"}))
