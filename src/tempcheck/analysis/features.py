"""``features``: the geometry of the penultimate features of every member.

Xuan, Yang, Li (2025, arXiv 2502.20604; docs/theory.md §2) show t-SNE maps of the features per τ:
at high τ every negative class is pushed away equally, and the classes separate more evenly.
This evaluation draws the maps and measures the separation with numbers:

- 2-D maps per member: PCA (numpy SVD of the centred features, signs fixed so the largest
  loading of each component is positive) and t-SNE (scikit-learn, fixed seed, PCA init, no
  early exaggeration by default: see :func:`tsne_2d`) on a seeded subsample of test points.
- ``silhouette``: mean silhouette coefficient (Euclidean, by true class) on that subsample.
- ``within_between``: tr(S_W)/tr(S_B), with S_W the within-class scatter Σ_c Σ_{i∈c}
  (f_i − μ_c)(f_i − μ_c)ᵀ and S_B the between-class scatter Σ_c n_c (μ_c − μ)(μ_c − μ)ᵀ, on all
  test features (lower = tighter, better separated classes; scale-invariant).
- ``probe_acc``: test accuracy of a logistic-regression probe fitted on (standardised) train
  features — how linearly decodable the classes are, independently of the trained head.

numpy and scikit-learn run under a one-thread BLAS/OpenMP limit: on a small shared CPU, thread
oversubscription made a 300-point t-SNE 6×, a 300 × 128 SVD ~100× and a probe fit 90× slower
than single-threaded.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..eval.base import EvalContext, EvalResult, Evaluation, parse_options, predict
from .common import check_bool, check_float, check_int, subsample

COLUMNS = ("feat_silhouette", "feat_within_between", "feat_probe_acc")


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of ``features`` (n, D) → ``(embedding (n, 2),
    explained variance ratio (2,))``; components beyond the rank are zero."""
    from threadpoolctl import threadpool_limits

    f = np.asarray(features, dtype=np.float64)
    f = f - f.mean(0, keepdims=True)
    with threadpool_limits(1):
        u, s, vt = np.linalg.svd(f, full_matrices=False)
    emb = np.zeros((f.shape[0], 2))
    r = min(2, s.shape[0])
    emb[:, :r] = u[:, :r] * s[:r]
    for i in range(r):  # SVD signs are arbitrary: fix them for reproducible pictures
        if vt[i, np.argmax(np.abs(vt[i]))] < 0:
            emb[:, i] = -emb[:, i]
    total = float((s**2).sum())
    ratio = np.zeros(2)
    if total > 0:
        ratio[:r] = s[:r] ** 2 / total
    return emb, ratio


def tsne_2d(features: np.ndarray, *, seed: int, perplexity: float = 30.0,
            max_iter: int = 250, exaggeration: float = 1.0) -> np.ndarray:
    """t-SNE map ``(n, 2)`` (scikit-learn, PCA init, ``random_state=seed``). The perplexity
    is capped at (n − 1)/3 so small subsamples stay valid; ``max_iter`` ≥ 250 (sklearn).

    scikit-learn spends its first 250 iterations in the early-exaggeration phase, so with the
    minimum ``max_iter`` = 250 and its default exaggeration 12 the map never leaves that phase
    (over-compressed clusters, a few far outliers). With PCA init the exaggeration is not
    needed to untangle the map: ``exaggeration`` = 1 makes all 250 iterations plain t-SNE; on
    the digits mlp's features that looked like 500 default iterations at 45% of the cost."""
    import inspect

    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    f = np.asarray(features, dtype=np.float32)
    n = f.shape[0]
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    perp = float(min(perplexity, (n - 1) / 3.0))
    # scikit-learn < 1.5 calls the iteration count n_iter
    iters = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"
    with threadpool_limits(1):
        return TSNE(2, perplexity=perp, init="pca", early_exaggeration=exaggeration,
                    random_state=seed, **{iters: max(250, max_iter)}
                    ).fit_transform(f).astype(np.float64)


def within_between_ratio(features: np.ndarray, labels: np.ndarray) -> float:
    """tr(S_W)/tr(S_B) of ``features`` (n, D) grouped by ``labels`` (n,); inf when the class
    means coincide, NaN with fewer than two classes."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    classes = np.unique(y)
    if classes.size < 2:
        return math.nan
    mu = f.mean(0)
    within = between = 0.0
    for c in classes:
        fc = f[y == c]
        mc = fc.mean(0)
        within += float(((fc - mc) ** 2).sum())
        between += fc.shape[0] * float(((mc - mu) ** 2).sum())
    return within / between if between > 0 else math.inf


def silhouette(features: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient in [−1, 1] (Euclidean); NaN unless 2 ≤ classes < n."""
    from sklearn.metrics import silhouette_score

    y = np.asarray(labels)
    n_classes = np.unique(y).size
    if not 2 <= n_classes < y.shape[0]:
        return math.nan
    return float(silhouette_score(np.asarray(features, dtype=np.float64), y))


def linear_probe_accuracy(train_f: np.ndarray, train_y: np.ndarray, test_f: np.ndarray,
                          test_y: np.ndarray, *, seed: int = 0, max_iter: int = 100) -> float:
    """Test accuracy of a multinomial logistic regression (L2, C = 1, lbfgs) fitted on
    standardised train features; the standardisation uses train statistics only."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    tr = np.asarray(train_f, dtype=np.float64)
    te = np.asarray(test_f, dtype=np.float64)
    mean, std = tr.mean(0), tr.std(0)
    std[std == 0] = 1.0
    if np.unique(train_y).size < 2:
        return math.nan
    with threadpool_limits(1), warnings.catch_warnings():
        # a capped probe is the point (speed); its accuracy is still what we report
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(max_iter=max_iter, random_state=seed)
        clf.fit((tr - mean) / std, np.asarray(train_y))
    return float((clf.predict((te - mean) / std) == np.asarray(test_y)).mean())


@dataclass(frozen=True)
class FeatureOptions:
    """``eval.features`` options.

    - ``points``: test points in the maps and the silhouette (seeded subsample).
    - ``tsne``: compute the t-SNE maps (the costly part); PCA maps are always computed.
    - ``tsne_iter`` (≥ 250, scikit-learn's minimum), ``tsne_exaggeration`` (early
      exaggeration of the first 250 iterations; 1 = none, see :func:`tsne_2d`),
      ``perplexity`` (capped at (points − 1)/3).
    - ``probe``: fit the linear probe; ``probe_examples`` train examples (seeded subset, 0 =
      all), ``probe_iter`` L-BFGS iterations.
    """

    points: int = 300
    tsne: bool = True
    tsne_iter: int = 250
    tsne_exaggeration: float = 1.0
    perplexity: float = 30.0
    probe: bool = True
    probe_examples: int = 2000
    probe_iter: int = 100

    def __post_init__(self) -> None:
        check_int("features", "points", self.points, 10)
        check_bool("features", "tsne", self.tsne)
        check_int("features", "tsne_iter", self.tsne_iter, 250)
        check_float("features", "tsne_exaggeration", self.tsne_exaggeration)
        check_float("features", "perplexity", self.perplexity)
        check_bool("features", "probe", self.probe)
        check_int("features", "probe_examples", self.probe_examples, 0)
        check_int("features", "probe_iter", self.probe_iter, 1)


def member_geometry(f_test: np.ndarray, y_test: np.ndarray, idx: np.ndarray,
                    f_train: np.ndarray | None, y_train: np.ndarray | None,
                    opts: FeatureOptions, seed: int) -> dict:
    """Everything :func:`run` computes for one member: ``silhouette``, ``within_between``,
    ``probe_acc`` (NaN without train features), ``pca`` (n, 2), ``pca_explained`` (2,),
    ``tsne`` (n, 2) or None, and ``seconds_tsne``. ``idx`` selects the mapped test points."""
    import time

    sub = f_test[idx]
    out = {"within_between": within_between_ratio(f_test, y_test),
           "silhouette": silhouette(sub, y_test[idx]), "probe_acc": math.nan,
           "tsne": None, "seconds_tsne": 0.0}
    out["pca"], out["pca_explained"] = pca_2d(sub)
    if f_train is not None and np.isfinite(f_train).all():
        out["probe_acc"] = linear_probe_accuracy(f_train, y_train, f_test, y_test, seed=seed,
                                                 max_iter=opts.probe_iter)
    if opts.tsne:
        t0 = time.perf_counter()
        out["tsne"] = tsne_2d(sub, seed=seed, perplexity=opts.perplexity,
                              max_iter=opts.tsne_iter, exaggeration=opts.tsne_exaggeration)
        out["seconds_tsne"] = time.perf_counter() - t0
    return out


def run(ctx: EvalContext) -> EvalResult:
    """Feature maps and separation numbers for every member.

    Columns: ``feat_silhouette`` (subsample), ``feat_within_between`` (all test points),
    ``feat_probe_acc`` (NaN when ``probe`` is off or the member diverged).
    Arrays: ``labels`` (n,) and ``indices`` (n,) of the mapped test points; ``pca`` (K, n, 2),
    ``pca_explained`` (K, 2); ``tsne`` (K, n, 2) when ``tsne`` is on. NaN rows for members
    with non-finite features.
    Info: ``points``, ``perplexity``, ``probe_examples``, ``tsne`` (bool), ``seconds_tsne``.
    """
    from threadpoolctl import threadpool_limits

    opts = parse_options(FeatureOptions, ctx.options, "features")
    k = ctx.members
    test = ctx.data.test
    f_test, _ = predict(ctx.model, test.x, batch_size=ctx.batch_size, device=ctx.device,
                        return_features=True)  # (N, K, D)
    y_test = test.y.cpu().numpy()
    idx = subsample(len(test), opts.points, ctx.seed).numpy()
    f_train, y_train = None, None
    if opts.probe:
        tidx = subsample(len(ctx.data.train), opts.probe_examples, ctx.seed)
        f_train, _ = predict(ctx.model, ctx.data.train.x[tidx.to(ctx.data.train.x.device)],
                             batch_size=ctx.batch_size, device=ctx.device, return_features=True)
        y_train = ctx.data.train.y.cpu()[tidx].numpy()
    n = idx.shape[0]
    cols = {c: [math.nan] * k for c in COLUMNS}
    arrays = {"labels": y_test[idx], "indices": idx, "pca": np.full((k, n, 2), np.nan),
              "pca_explained": np.full((k, 2), np.nan)}
    if opts.tsne:
        arrays["tsne"] = np.full((k, n, 2), np.nan)
    seconds_tsne = 0.0
    with threadpool_limits(1):
        for m in range(k):
            fm = f_test[:, m].double().numpy()
            if not np.isfinite(fm).all():
                continue
            ftr = None if f_train is None else f_train[:, m].double().numpy()
            g = member_geometry(fm, y_test, idx, ftr, y_train, opts, ctx.seed)
            for c in COLUMNS:
                cols[c][m] = g[c.removeprefix("feat_")]
            arrays["pca"][m], arrays["pca_explained"][m] = g["pca"], g["pca_explained"]
            if opts.tsne:
                arrays["tsne"][m] = g["tsne"]
            seconds_tsne += g["seconds_tsne"]
    info = {"points": int(n), "perplexity": float(min(opts.perplexity, (n - 1) / 3.0)),
            "tsne": opts.tsne, "probe_examples": 0 if f_train is None else int(f_train.shape[0]),
            "seconds_tsne": round(seconds_tsne, 3)}
    return EvalResult(columns=cols, arrays=arrays, info=info)


EVALUATION = Evaluation(
    name="features", order=60, summary="t-SNE / PCA maps, separation, linear probe",
    options=FeatureOptions,
    columns=("feat_*",),
    section=("Feature geometry", "section_features"),
)
