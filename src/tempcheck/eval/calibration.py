"""``calibration``: the ECE family before and after post-hoc scaling, for every member.

Temperature scaling and vector scaling (Guo et al. 2017; docs/theory.md §4) are fitted per member
on the cached validation logits, in one banked optimisation (``eval/scaling/``), and judged on
the cached test logits. ``test_nll``, ``test_ece`` ... score softmax(z / τ), the distribution the
member was trained to output (as in the ``clean`` evaluation); the ``*_raw`` columns score the raw
logits softmax(z). Scalers are fitted on the raw logits z, so ``ts_temperature`` is the absolute
temperature T of softmax(z / T): a member trained at τ is already calibrated by its own training
temperature when T ≈ τ (``ts_relative_temperature`` = T / τ ≈ 1).

Members whose validation or test logits are not finite (diverged) get NaN columns and are left
out of the fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import metrics
from ..errors import ConfigError
from .base import EvalContext, EvalResult, Evaluation, cached_logits, parse_options
from .scaling import (
    DEFAULT_LOWER,
    DEFAULT_PRIOR_SD,
    DEFAULT_UPPER,
    GRAD_TOL,
    ProbabilityInputWarning,
    TemperatureFit,
    TemperatureScaler,
    VectorFit,
    VectorScaler,
    fit_temperature,
    fit_vector_scaling,
    is_finite_member,
    load_scaler,
    looks_like_probabilities,
)

__all__ = [
    "COLUMNS", "CalibrationOptions", "ProbabilityInputWarning", "TemperatureFit",
    "TemperatureScaler", "VectorFit", "VectorScaler", "fit_temperature", "fit_vector_scaling",
    "load_scaler", "looks_like_probabilities", "run",
]

COLUMNS = (
    "test_acc", "test_nll", "test_ece", "test_brier", "test_adaptive_ece", "test_classwise_ece",
    "test_mce", "test_nll_raw", "test_ece_raw", "test_brier_raw", "test_adaptive_ece_raw",
    "ts_temperature", "ts_relative_temperature",
    "test_ece_ts", "test_nll_ts", "test_adaptive_ece_ts", "test_brier_ts",
    "test_classwise_ece_ts", "test_mce_ts", "test_acc_vs", "test_ece_vs", "test_nll_vs",
    "test_brier_vs", "vs_converged",
)


@dataclass(frozen=True)
class CalibrationOptions:
    """``eval.calibration`` options.

    - ``n_bins``: bins of every ECE variant and of the reliability diagrams.
    - ``vector_scaling``: also fit vector scaling (``*_vs`` columns; NaN when off).
    - ``t_min``, ``t_max``: bounds on T for member k: T ∈ [min(τ_k, 1)·t_min, max(τ_k, 1)·t_max]
      (so a hot member can still be sharpened below T = τ_k/100, and a cold one softened); a fit
      that ends on a bound reports it in ``info["members"][k]["bound_hit"]``.
    - ``vs_prior_sd``: σ of the N(0, σ²) priors that regularise vector scaling toward the
      temperature-scaling solution (penalty λ = 1/(σ² N_val), see ``eval/scaling/vector_fit``);
      ``.inf`` fits plain maximum likelihood.
    - ``max_iter``: L-BFGS iterations per round (both fits); ``grad_tol``: target |∂NLL/∂log T| (and
      |∂objective/∂(u, b)| for vector scaling).
    """

    n_bins: int = 15
    vector_scaling: bool = True
    t_min: float = DEFAULT_LOWER
    t_max: float = DEFAULT_UPPER
    max_iter: int = 100
    grad_tol: float = GRAD_TOL
    vs_prior_sd: float = field(default=DEFAULT_PRIOR_SD, metadata={"unbounded": True})

    def __post_init__(self) -> None:
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, int) or self.n_bins < 1:
            raise ConfigError(
                f"eval.calibration.n_bins must be an integer ≥ 1, got {self.n_bins!r}")
        if not isinstance(self.vector_scaling, bool):
            raise ConfigError("eval.calibration.vector_scaling must be true or false")
        for name in ("t_min", "t_max", "grad_tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"eval.calibration.{name} must be a number > 0, got {value!r}")
        sd = self.vs_prior_sd
        if isinstance(sd, bool) or not isinstance(sd, (int, float)) or math.isnan(sd) or sd <= 0:
            raise ConfigError(f"eval.calibration.vs_prior_sd must be a number > 0 (or .inf), "
                              f"got {sd!r}")
        if self.t_min >= self.t_max:
            raise ConfigError("eval.calibration.t_min must be below t_max")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) \
                or self.max_iter < 1:
            raise ConfigError(f"eval.calibration.max_iter must be an integer ≥ 1, "
                              f"got {self.max_iter!r}")


def _scores(z: torch.Tensor, y: torch.Tensor, n_bins: int) -> dict[str, torch.Tensor]:
    """Every metric of banked logits (N, K, C) as (K,) tensors."""
    return {
        "acc": metrics.accuracy(z, y), "nll": metrics.nll(z, y),
        "ece": metrics.ece(z, y, n_bins), "brier": metrics.brier(z, y),
        "adaptive_ece": metrics.adaptive_ece(z, y, n_bins),
        "classwise_ece": metrics.classwise_ece(z, y, n_bins), "mce": metrics.mce(z, y, n_bins),
    }


def _reliability(z: torch.Tensor, y: torch.Tensor, n_bins: int, ok: torch.Tensor, prefix: str):
    """Reliability arrays (K, n_bins) of the members in ``ok``; NaN / 0 rows for the others."""
    k = ok.shape[0]
    counts = np.zeros((k, n_bins), dtype=np.int64)
    conf = np.full((k, n_bins), np.nan)
    acc = np.full((k, n_bins), np.nan)
    idx = ok.nonzero().flatten()
    if idx.numel():
        bins = metrics.reliability_bins(z[:, idx], y, n_bins)
        counts[idx.numpy()], conf[idx.numpy()], acc[idx.numpy()] = (
            bins["counts"], bins["confidence"], bins["accuracy"])
    return {f"{prefix}_counts": counts, f"{prefix}_confidence": conf, f"{prefix}_accuracy": acc}


def run(ctx: EvalContext) -> EvalResult:
    """Fit temperature (and vector) scaling per member on validation logits; score test logits.

    Columns (one value per member, NaN where undefined): see :data:`COLUMNS`;
    ``vs_converged`` is True / False where vector scaling was fitted (a False fit's ``*_vs``
    columns are still written, and the report marks them).
    Arrays: ``rel_edges`` (n_bins + 1,) and, for the raw test logits (``rel_raw_*``), at the
    training temperature (``rel_tau_*``) and after temperature scaling (``rel_ts_*``):
    ``*_counts``, ``*_confidence``, ``*_accuracy``, each (K, n_bins).
    Info: ``n_val``, ``n_test``, ``n_bins``, ``bounds`` ([t_min, t_max] relative to τ),
    ``vector_scaling``, ``vs_prior_sd`` (null: no prior), ``members``: per member ``{member,
    skipped, temperature, iterations, evaluations, final_grad, bound_hit, limit, converged,
    val_nll, vs: {iterations, final_grad, converged, val_nll, prior_sd, penalty} or
    {skipped}}`` (see ``TemperatureFit`` and ``VectorFit``).
    """
    opts = parse_options(CalibrationOptions, ctx.options, "calibration")
    nb = opts.n_bins
    k = ctx.members
    tau = ctx.temperatures.detach().double().cpu().reshape(-1)
    z_val, z_test = cached_logits(ctx, "val"), cached_logits(ctx, "test")  # (N, K, C)
    y_val, y_test = ctx.data.val.y.cpu(), ctx.data.test.y.cpu()
    ok = is_finite_member(z_test) & (is_finite_member(z_val) if z_val.shape[0] else True)
    can_fit = ok & (z_val.shape[0] > 0)
    cols = {name: [math.nan] * k for name in COLUMNS}
    members = [{"member": m, "skipped": ""} for m in range(k)]
    for m in range(k):
        if not ok[m]:
            members[m]["skipped"] = "non-finite logits (diverged member)"
        elif not can_fit[m]:
            members[m]["skipped"] = "no validation split to fit on"

    def put(suffix: str, values: dict[str, torch.Tensor], idx: list[int]) -> None:
        for name, v in values.items():
            col = f"test_{name}{suffix}"
            if col in cols:
                for j, m in enumerate(idx):
                    cols[col][m] = float(v[j])

    arrays: dict[str, np.ndarray] = {
        "rel_edges": np.linspace(0.0, 1.0, nb + 1),
        **_reliability(z_test, y_test, nb, ok, "rel_raw"),
    }
    z_tau = z_test.double() / tau.view(1, -1, 1)
    arrays.update(_reliability(z_tau, y_test, nb, ok, "rel_tau"))
    idx = ok.nonzero().flatten().tolist()
    if idx:
        put("", _scores(z_tau[:, idx], y_test, nb), idx)
        put("_raw", _scores(z_test[:, idx], y_test, nb), idx)

    fit_idx = can_fit.nonzero().flatten().tolist()
    ts_ok = torch.zeros(k, dtype=torch.bool)
    z_ts = z_test.double().clone()
    if fit_idx:
        fit = fit_temperature(
            z_val[:, fit_idx], y_val, lower=tau[fit_idx].clamp(max=1.0) * opts.t_min,
            upper=tau[fit_idx].clamp(min=1.0) * opts.t_max, grad_tol=opts.grad_tol,
            max_iter=opts.max_iter)
        for j, m in enumerate(fit_idx):
            members[m].update(fit.member_info(j))
            cols["ts_temperature"][m] = float(fit.temperature[j])
            cols["ts_relative_temperature"][m] = float(fit.temperature[j] / tau[m])
        z_ts[:, fit_idx] = z_test[:, fit_idx].double() / fit.temperature.view(1, -1, 1)
        ts_ok[fit_idx] = True
        put("_ts", _scores(z_ts[:, fit_idx], y_test, nb), fit_idx)
        # Vector scaling has no minimiser either where temperature scaling has none (e.g. a
        # separable validation set: scaling every w up drives the NLL to 0).
        vs_pos = [j for j in range(len(fit_idx)) if not fit.limit[j]]
        for j, m in enumerate(fit_idx):
            if fit.limit[j] and opts.vector_scaling:
                members[m]["vs"] = {"skipped": f"NLL has no finite minimiser ({fit.limit[j]})"}
        if opts.vector_scaling and vs_pos:
            vs_idx = [fit_idx[j] for j in vs_pos]
            vs = fit_vector_scaling(z_val[:, vs_idx], y_val, grad_tol=opts.grad_tol,
                                    max_iter=opts.max_iter,
                                    init_temperature=fit.temperature[vs_pos],
                                    prior_sd=opts.vs_prior_sd)
            z_vs = VectorScaler(vs.weight, vs.bias).apply(z_test[:, vs_idx].double())
            for j, m in enumerate(vs_idx):
                members[m]["vs"] = vs.member_info(j)
                cols["vs_converged"][m] = vs.converged[j]
            put("_vs", {"acc": metrics.accuracy(z_vs, y_test), "nll": metrics.nll(z_vs, y_test),
                        "ece": metrics.ece(z_vs, y_test, nb),
                        "brier": metrics.brier(z_vs, y_test)}, vs_idx)
    arrays.update(_reliability(z_ts, y_test, nb, ts_ok, "rel_ts"))
    info = {
        "n_val": int(y_val.shape[0]), "n_test": int(y_test.shape[0]), "n_bins": nb,
        "bounds": [opts.t_min, opts.t_max], "vector_scaling": opts.vector_scaling,
        "vs_prior_sd": _json_ready(float(opts.vs_prior_sd)),  # null: no prior
        "members": [_json_ready(m) for m in members],
    }
    return EvalResult(columns=cols, arrays=arrays, info=info)


def _json_ready(value):
    """Replace non-finite floats by None (eval.json stays standard JSON)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


EVALUATION = Evaluation(
    name="calibration", order=10, summary="post-hoc temperature / vector scaling, ECE family",
    options=CalibrationOptions,
    columns=COLUMNS,
    section=("Calibration", "section_calibration"),
)
