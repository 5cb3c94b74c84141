"""Early-learning theory against measurement (Agarwala et al., "Temperature check", arXiv
2010.07344, TMLR 2023; docs/theory.md §3), as a study on a small subset of a dataset.

The kernel, the linearised map and real gradient descent live in ``linearised.py``; this file
asks the three questions the theory answers and packages the answers for a run folder:

1. *Prediction*: from the tangent kernel at init, the linearised map
   u_{t+1} = u_t − (η β²/n) Θ (softmax(u_t) − Y) predicts the early loss and accuracy curves of
   full-batch GD on the mean tempered loss. How long does the prediction hold?
2. *Collapse*: early on η and β enter only through η β², plus the start u₀ = β z₀. Runs with
   different (η, β) but equal η β² and equal ‖β z₀‖ should follow one curve. ‖β z₀‖ is held
   fixed through the head init scale σ_w: BankLinear scales the head's weight *and* bias, so
   z₀ ∝ σ_w for a fixed seed, and σ_w = σ_ref/β gives the same u₀ for every β (up to the
   float32 rounding of the init draw, ~1e−8 relative). A linear model then collapses
   exactly. A deep model's tangent kernel depends on σ_w through the layers below the head,
   Θ = Θ_head + σ_w² Θ_body, so at fixed ‖β z₀‖ the body's share of the dynamics (and its
   weight displacement, ∝ η β σ_w) grows like 1/β²: small β leaves the linear regime first.
   A control keeps η and σ_w fixed instead.
3. *Stability edge*: the largest stable step should scale like 1/β². Per β the edge is found
   by doubling/halving from one β-independent start and then log-bisection; "stable" means the
   loss stayed finite, never rose above its initial value over the scan window, and ended
   below it. log η_max = c + s·log β is fitted by least squares (s ± its standard error);
   the edges predicted from the curvature at init (Gauss–Newton ``curvature_edge``, and
   optionally the full Hessian, ``hessian_edge``) are fitted alongside. For a deep model the
   measured edge reflects the curvature reached *during* the scan window (it can sharpen as
   the loss starts to fall), so it depends on the window length and need not follow the
   init prediction; for a linear model all three agree on s = −2.

Everything runs in float64 and in eval mode (see ``linearised.py``), on one thread by default:
these are tiny tensors, and on a small shared CPU intra-op threads only add overhead (the
digits cnn's forward + backward was 50× slower with 2 threads under load than with 1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..data.base import DatasetSplits, as_float
from ..progress import NullProgress, Progress
from ..train.threads import torch_threads
from .common import subsample
from .linearised import (
    LinearLogits,
    compare_early_curves,
    curvature_edge,
    gradient_descent_trajectory,
    hessian_edge,
    model_logits,
    tangent_kernel,
)

ModelFactory = Callable[[float], nn.Module]  # head init scale σ_w → float64 K = 1 model


def model_factory(name: str, data: DatasetSplits, *, seed: int = 0) -> ModelFactory:
    """``make(σ_w)`` building model ``name`` (a registry family, or ``"linear"`` for
    :class:`LinearLogits` on the normalised pixels) with one member, init seed ``seed`` and
    head init scale σ_w, in float64 and eval mode. The same seed draws the same body and the
    same head up to the factor σ_w (and the float32 rounding of the scaled init draw).
    ``"linear"`` is not a registry family: it exists for the exact-linearisation checks."""
    from ..registry import create_model

    def make(head_init_scale: float) -> nn.Module:
        if name == "linear":
            model = LinearLogits(
                in_features=data.in_channels * data.image_size**2, num_classes=data.num_classes,
                in_channels=data.in_channels, mean=data.mean, std=data.std,
                head_init_scale=head_init_scale, seed=seed)
        else:
            model = create_model(name, members=1, seeds=[seed], head_init_scale=head_init_scale,
                                 **data.model_kwargs())
        return model.double().eval()

    return make


# -- curve comparisons --------------------------------------------------------------------------

def agreement_horizon(predicted: Sequence[float], measured: Sequence[float], tol: float) -> int:
    """Last step t such that |pred_s − meas_s| ≤ tol·|meas_s| for every s ≤ t (−1 if not even
    at t = 0)."""
    last = -1
    for t, (p, m) in enumerate(zip(predicted, measured)):
        if not (math.isfinite(p) and math.isfinite(m)) or abs(p - m) > tol * abs(m):
            break
        last = t
    return last


def spread_per_step(curves: np.ndarray) -> np.ndarray:
    """(max − min)/|mean| across runs at each step of curves ``(R, T + 1)``: 0 where all runs
    coincide, NaN at steps where a run is not finite."""
    c = np.asarray(curves, dtype=float)
    mean = np.abs(c.mean(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (c.max(0) - c.min(0)) / np.where(mean > 0, mean, np.inf)
    out[~np.isfinite(c).all(axis=0)] = np.nan
    return out


def curve_spread(curves: np.ndarray, upto: int | None = None) -> float:
    """Collapse metric: max over steps t ≤ ``upto`` (all by default) of
    :func:`spread_per_step`, skipping steps where a run is not finite (NaN if none is)."""
    s = spread_per_step(curves)
    s = s if upto is None else s[: upto + 1]
    return float(np.nanmax(s)) if np.isfinite(s).any() else math.nan


def collapse_runs(make_model: ModelFactory, x: torch.Tensor, labels: torch.Tensor, *,
                  betas: Sequence[float], eta_beta2: float, steps: int,
                  head_init_scale: float = 1.0, beta_ref: float = 1.0,
                  kernels: dict | None = None) -> dict:
    """Matched runs β_i with η_i = ηβ²/β_i² and σ_i = σ·β_ref/β_i (equal η β², equal u₀),
    each with its linearised prediction; and control runs with η = ηβ²/β_ref², σ = σ fixed.

    Returns ``runs`` (one :func:`compare_early_curves` dict per β plus ``beta``, ``eta``,
    ``head_init_scale``, ``horizon_1pct``, ``horizon_5pct``), ``control`` (``beta``, ``eta``,
    ``head_init_scale``, ``loss``, ``acc``), ``matched_spread``, ``predicted_spread`` and
    ``control_spread`` (:func:`curve_spread` of the loss curves over all steps), the same over
    the first ``early_steps`` = steps // 5 steps (``*_spread_early``), and ``early_steps``.
    ``kernels`` caches Θ by σ.
    """
    kernels = {} if kernels is None else kernels
    runs, control = [], []
    for beta in betas:
        sigma = head_init_scale * beta_ref / beta
        model = make_model(sigma)
        if sigma not in kernels:
            kernels[sigma] = tangent_kernel(model, x)
        eta = eta_beta2 / beta**2
        r = compare_early_curves(model, x, labels, eta=eta, beta=beta, steps=steps,
                                 theta=kernels[sigma])
        r.update(beta=float(beta), eta=float(eta), head_init_scale=float(sigma),
                 horizon_1pct=agreement_horizon(r["pred_loss"], r["meas_loss"], 0.01),
                 horizon_5pct=agreement_horizon(r["pred_loss"], r["meas_loss"], 0.05))
        runs.append(r)
        eta_c = eta_beta2 / beta_ref**2
        c = gradient_descent_trajectory(make_model(head_init_scale), x, labels, eta=eta_c,
                                        beta=beta, steps=steps)
        control.append({"beta": float(beta), "eta": float(eta_c),
                        "head_init_scale": float(head_init_scale), **c})
    curves = {"matched": np.array([r["meas_loss"] for r in runs]),
              "predicted": np.array([r["pred_loss"] for r in runs]),
              "control": np.array([c["loss"] for c in control])}
    early = max(1, steps // 5)
    out = {"runs": runs, "control": control, "early_steps": early}
    for name, c in curves.items():
        out[f"{name}_spread"] = curve_spread(c)
        out[f"{name}_spread_early"] = curve_spread(c, early)
    return out


# -- stability edge -----------------------------------------------------------------------------

def is_stable(losses: Sequence[float]) -> bool:
    """Finite throughout, never above the initial loss, and ending below it."""
    v = np.asarray(losses, dtype=float)
    return bool(np.isfinite(v).all() and v.max() <= v[0] and v[-1] < v[0])


def stable_edge(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *, beta: float,
                eta_start: float, steps: int, refine: int = 6, max_moves: int = 20
                ) -> tuple[float, list[tuple[float, bool]]]:
    """Largest stable step η_max for this model and β (see :func:`is_stable`).

    Doubles (or halves) from ``eta_start`` until stability changes, then bisects ``refine``
    times in log space, so η_max is known to a factor 2^(2^−refine). Assumes stability is
    monotone in η. Returns ``(η_max, [(η, stable), ...] in the order tried)``; η_max is NaN if
    no tried step was stable.
    """
    with torch.no_grad():
        start = float(torch.nn.functional.cross_entropy(beta * model_logits(model, x),
                                                        labels.long()))
    tried: list[tuple[float, bool]] = []

    def stable(eta: float) -> bool:
        curve = gradient_descent_trajectory(model, x, labels, eta=eta, beta=beta, steps=steps,
                                            stop_above=start)
        ok = is_stable(curve["loss"])
        tried.append((float(eta), ok))
        return ok

    lo, hi = (eta_start, 2.0 * eta_start) if stable(eta_start) else (0.5 * eta_start, eta_start)
    moves = 0
    if tried[-1][1]:
        while moves < max_moves and stable(hi):
            lo, hi, moves = hi, 2.0 * hi, moves + 1
    else:
        while moves < max_moves and not stable(lo):
            lo, hi, moves = 0.5 * lo, lo, moves + 1
    if not any(ok for _, ok in tried):
        return math.nan, tried
    for _ in range(refine):
        mid = math.sqrt(lo * hi)
        if stable(mid):
            lo = mid
        else:
            hi = mid
    return lo, tried


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least squares log y = c + s·log x over the finite pairs: ``slope`` s, ``slope_se`` (its
    standard error, √(RSS/(m − 2) / Σ(log x − mean)²); NaN with fewer than 3 points),
    ``intercept`` c and ``points`` m."""
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    ok = np.isfinite(lx) & np.isfinite(ly)
    lx, ly = lx[ok], ly[ok]
    m = int(lx.size)
    if m < 2 or np.ptp(lx) == 0:
        return {"slope": math.nan, "slope_se": math.nan, "intercept": math.nan, "points": m}
    sxx = float(((lx - lx.mean()) ** 2).sum())
    slope = float(((lx - lx.mean()) * (ly - ly.mean())).sum() / sxx)
    intercept = float(ly.mean() - slope * lx.mean())
    se = math.nan
    if m > 2:
        rss = float(((ly - intercept - slope * lx) ** 2).sum())
        se = math.sqrt(rss / (m - 2) / sxx)
    return {"slope": slope, "slope_se": se, "intercept": intercept, "points": m}


def stability_scan(make_model: ModelFactory, x: torch.Tensor, labels: torch.Tensor, *,
                   betas: Sequence[float], eta_start: float, steps: int = 40, refine: int = 6,
                   head_init_scale: float = 1.0, match_u0: bool = True, beta_ref: float = 1.0,
                   hessian: bool = False, kernels: dict | None = None) -> dict:
    """η_max per β and the fitted exponent of η_max ∝ β^s (expected s ≈ −2).

    With ``match_u0`` σ_w = σ·β_ref/β (same u₀ for every β, as in :func:`collapse_runs`);
    otherwise σ_w = σ for all β (same network, u₀ ∝ β). ``eta_start`` is the same for every β.
    Returns ``betas``, ``eta_max``, ``eta_edge`` (Gauss–Newton prediction at init,
    :func:`curvature_edge`), ``eta_hessian`` (full-Hessian edge at init,
    :func:`hessian_edge`, when ``hessian``; else NaN), ``tried`` (``[β, η, stable]`` rows),
    ``fit``, ``edge_fit``, ``hessian_fit`` (:func:`fit_power_law`), ``steps``, ``refine``,
    ``match_u0``, ``resolution`` (the factor 2^(2^−refine)).
    """
    kernels = {} if kernels is None else kernels
    eta_max, eta_edge, eta_hess, tried = [], [], [], []
    for beta in betas:
        sigma = head_init_scale * beta_ref / beta if match_u0 else head_init_scale
        model = make_model(sigma)
        if sigma not in kernels:
            kernels[sigma] = tangent_kernel(model, x)
        with torch.no_grad():
            u0 = beta * model_logits(model, x)
        eta_edge.append(curvature_edge(kernels[sigma], u0, beta))
        eta_hess.append(hessian_edge(model, x, labels, beta) if hessian else math.nan)
        e, t = stable_edge(model, x, labels, beta=beta, eta_start=eta_start, steps=steps,
                           refine=refine)
        eta_max.append(e)
        tried += [[float(beta), eta, ok] for eta, ok in t]
    return {
        "betas": [float(b) for b in betas], "eta_max": eta_max, "eta_edge": eta_edge,
        "eta_hessian": eta_hess, "tried": tried, "fit": fit_power_law(betas, eta_max),
        "edge_fit": fit_power_law(betas, eta_edge),
        "hessian_fit": fit_power_law(betas, eta_hess), "steps": steps, "refine": refine,
        "match_u0": match_u0, "resolution": 2.0 ** (2.0**-refine),
    }


# -- the study --------------------------------------------------------------------------------

def _finite(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def run_dynamics_study(
    model_name: str | ModelFactory, data: DatasetSplits, *, n_examples: int = 64,
    betas: Sequence[float] = (0.5, 1.0, 2.0, 4.0), steps: int = 50,
    eta_beta2: float | None = None, edge_fraction: float = 0.25, head_init_scale: float = 1.0,
    scan_betas: Sequence[float] | None = None, scan_steps: int = 20, scan_refine: int = 5,
    scan_match_u0: bool = True, scan_hessian: bool = False, seed: int = 0,
    threads: int | None = 1, progress: Progress | None = None,
) -> dict:
    """Prediction vs measurement, collapse and stability edge on ``n_examples`` train examples.

    Order: tangent kernels at init (one per head scale) → stability scan → the common η β² →
    matched and control runs with their linearised predictions.

    Args:
        model_name: a registry family (``"mlp"``, ``"cnn"``, …), ``"linear"``, or a factory
            ``make(σ_w) -> model`` (float64, K = 1).
        betas: inverse temperatures of the matched runs (equal η β², equal ‖β z₀‖).
        eta_beta2: the common η β² of the matched runs; default ``edge_fraction`` × the
            smallest *measured* η_max·β² of the scan (needs ``scan_match_u0`` and
            ``scan_betas`` ⊇ ``betas``; otherwise of the Gauss–Newton edges at init), so every
            matched run is at that fraction of its own stability edge or below.
        head_init_scale: σ_w at β = 1 (σ_w = head_init_scale/β for the matched runs).
        scan_betas: β values of the stability scan (default ``betas``). Its start step, the
            same for every β, is 1/4 of the smallest Gauss–Newton η_edge·β² at init.
        scan_hessian: also compute the full-Hessian edge at init per β (Lanczos; ~1 s per β
            on the digits mlp, more on convnets).
        threads: torch intra-op threads while the study runs (restored afterwards).

    Returns ``{"info": JSON-able dict, "arrays": {name: numpy array}}`` — what
    :func:`write_dynamics` stores as dynamics.json / dynamics.npz (keys listed there).
    """
    progress = progress or NullProgress()
    t_all = time.perf_counter()
    scan_betas = list(scan_betas or betas)
    with torch_threads(threads):
        name = model_name if isinstance(model_name, str) else getattr(
            model_name, "__name__", "custom")
        make = model_factory(model_name, data, seed=seed) if isinstance(model_name, str) \
            else model_name
        idx = subsample(len(data.train), n_examples, seed)
        x = as_float(data.train.x[idx]).double()
        y = data.train.y[idx].long()
        kernels: dict[float, torch.Tensor] = {}
        t0 = time.perf_counter()
        gn_edges = []
        for beta in betas:
            sigma = head_init_scale / beta
            model = make(sigma)
            kernels[sigma] = tangent_kernel(model, x)
            with torch.no_grad():
                u0 = beta * model_logits(model, x)
            gn_edges.append(curvature_edge(kernels[sigma], u0, beta) * beta**2)
        t_kernel = time.perf_counter() - t0
        progress.log(f"dynamics: {name}, n = {x.shape[0]}, kernels in {t_kernel:.1f} s")
        t0 = time.perf_counter()
        scan = stability_scan(make, x, y, betas=scan_betas, eta_start=0.25 * min(gn_edges),
                              steps=scan_steps, refine=scan_refine,
                              head_init_scale=head_init_scale, match_u0=scan_match_u0,
                              hessian=scan_hessian, kernels=kernels)
        t_scan = time.perf_counter() - t0
        if eta_beta2 is None:
            eta_beta2 = edge_fraction * _smallest_edge(betas, gn_edges, scan, scan_match_u0)
        progress.log(f"dynamics: stability scan in {t_scan:.1f} s, η β² = {eta_beta2:.4g}")
        t0 = time.perf_counter()
        col = collapse_runs(make, x, y, betas=betas, eta_beta2=eta_beta2, steps=steps,
                            head_init_scale=head_init_scale, kernels=kernels)
        t_curves = time.perf_counter() - t0
    return _package(name, data, x, seed, steps, eta_beta2, edge_fraction, head_init_scale, col,
                    scan, {"kernels": t_kernel, "scan": t_scan, "curves": t_curves,
                           "total": time.perf_counter() - t_all})


def _smallest_edge(betas, gn_edges, scan, matched: bool) -> float:
    """min over the matched runs of η_max·β² from the scan when it covers them with the same
    head scales, else min of the Gauss–Newton η_edge·β²."""
    measured = dict(zip(scan["betas"], scan["eta_max"]))
    if matched and all(float(b) in measured and math.isfinite(measured[float(b)])
                       for b in betas):
        return min(measured[float(b)] * b**2 for b in betas)
    return min(gn_edges)


def _package(name, data, x, seed, steps, eta_beta2, edge_fraction, head_init_scale, col, scan,
             seconds) -> dict:
    runs = col["runs"]
    run_info = [{
        "beta": r["beta"], "eta": r["eta"], "head_init_scale": r["head_init_scale"],
        "u0_norm": r["u0_norm"], "eta_edge": _finite(r["eta_edge"]),
        "kernel_trace": r["kernel_trace"],
        "max_rel_loss_error": _finite(r["max_rel_loss_error"]),
        "max_acc_error": _finite(r["max_acc_error"]),
        "horizon_1pct": r["horizon_1pct"], "horizon_5pct": r["horizon_5pct"],
        "final_loss": _finite(r["meas_loss"][-1]), "final_pred_loss": _finite(r["pred_loss"][-1]),
    } for r in runs]
    errs = [r["max_rel_loss_error"] for r in runs if math.isfinite(r["max_rel_loss_error"])]

    def fit_info(f):
        return {k: (_finite(v) if isinstance(v, float) else v) for k, v in f.items()}

    info = {
        "model": name, "dataset": data.name, "n_examples": int(x.shape[0]), "seed": seed,
        "steps": steps, "dtype": "float64", "mode": "eval (BatchNorm uses running statistics)",
        "loss": "mean over examples of CE(beta * z, y)",
        "update": "u_{t+1} = u_t - (eta beta^2 / n) Theta (softmax(u_t) - Y)",
        "eta_beta2": eta_beta2, "edge_fraction": edge_fraction,
        "head_init_scale": head_init_scale, "runs": run_info,
        "agreement": {"max_rel_loss_error": max(errs) if errs else None,
                      "min_horizon_1pct": min(r["horizon_1pct"] for r in runs),
                      "min_horizon_5pct": min(r["horizon_5pct"] for r in runs)},
        "collapse": {**{f"{k}_spread{w}": _finite(col[f"{k}_spread{w}"])
                        for k in ("matched", "predicted", "control") for w in ("", "_early")},
                     "early_steps": col["early_steps"]},
        "control": [{k: c[k] for k in ("beta", "eta", "head_init_scale")}
                    for c in col["control"]],
        "stability": {
            "betas": scan["betas"], "eta_max": [_finite(v) for v in scan["eta_max"]],
            "eta_edge": [_finite(v) for v in scan["eta_edge"]],
            "eta_hessian": [_finite(v) for v in scan["eta_hessian"]],
            "fit": fit_info(scan["fit"]), "edge_fit": fit_info(scan["edge_fit"]),
            "hessian_fit": fit_info(scan["hessian_fit"]), "steps": scan["steps"],
            "refine": scan["refine"], "match_u0": scan["match_u0"],
            "resolution": scan["resolution"],
            "criterion": "finite, never above the initial loss, final loss below it",
        },
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    tried = np.array(scan["tried"], dtype=float).reshape(-1, 3)
    arrays = {
        "steps": np.arange(steps + 1),
        "betas": np.array([r["beta"] for r in runs]),
        "etas": np.array([r["eta"] for r in runs]),
        "pred_loss": np.array([r["pred_loss"] for r in runs]),
        "pred_acc": np.array([r["pred_acc"] for r in runs]),
        "meas_loss": np.array([r["meas_loss"] for r in runs]),
        "meas_acc": np.array([r["meas_acc"] for r in runs]),
        "control_loss": np.array([c["loss"] for c in col["control"]]),
        "control_acc": np.array([c["acc"] for c in col["control"]]),
        "matched_spread": spread_per_step(np.array([r["meas_loss"] for r in runs])),
        "control_spread": spread_per_step(np.array([c["loss"] for c in col["control"]])),
        "scan_betas": np.array(scan["betas"]),
        "scan_eta_max": np.array(scan["eta_max"], dtype=float),
        "scan_eta_edge": np.array(scan["eta_edge"], dtype=float),
        "scan_eta_hessian": np.array(scan["eta_hessian"], dtype=float),
        "scan_tried_beta": tried[:, 0], "scan_tried_eta": tried[:, 1],
        "scan_tried_stable": tried[:, 2].astype(bool),
    }
    return {"info": info, "arrays": arrays}


def write_dynamics(out_dir, result: dict) -> tuple:
    """Write ``result["info"]`` to ``out_dir/dynamics.json`` and ``result["arrays"]`` to
    ``out_dir/dynamics.npz``, each atomically (temporary name, then rename). Returns the paths.

    dynamics.npz keys: ``steps`` (T + 1,); per matched run (R = len(betas)) ``betas``, ``etas``
    (R,), ``pred_loss``, ``pred_acc``, ``meas_loss``, ``meas_acc``, ``control_loss``,
    ``control_acc`` (R, T + 1); ``matched_spread``, ``control_spread`` (T + 1,) the loss
    spread across β per step (:func:`spread_per_step`); stability ``scan_betas``,
    ``scan_eta_max``, ``scan_eta_edge``, ``scan_eta_hessian`` (S,) and every tried step
    ``scan_tried_beta``, ``scan_tried_eta``, ``scan_tried_stable``.
    """
    from pathlib import Path

    from ..atomic import atomic_write_json, atomic_write_npz

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "dynamics.json", result["info"])
    atomic_write_npz(out / "dynamics.npz", result["arrays"])
    return out / "dynamics.json", out / "dynamics.npz"
