"""``logits``: what training at τ does to the logits themselves.

Per sample and member (docs/theory.md §1, §3, §5):
- ``norm``: ‖z‖₂ of the raw logits. The member's softmax input is u = z/τ, so a member trained
  at τ that predicts as confidently as one trained at 1 has ‖z‖ about τ times larger.
- ``margin``: z_y − max_{j≠y} z_j (negative when misclassified), in raw-logit units; it is the
  CW margin an attack climbs (§5).
- ``margin_tau``: margin/τ, the same margin in softmax-input units; above ~17 (float32, 10
  classes) the untargeted CE gradient at τ underflows (§5).
- ``entropy``: entropy (nats) of the member's own predictive distribution softmax(z/τ).

:func:`logit_summary` gives per-member means for per-epoch logging; :func:`run` is the
evaluation on the test split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..eval.base import EvalContext, EvalResult, Evaluation, cached_logits, parse_options
from ..softmax import check_temperature, scale_logits
from .common import check_int, finite_members, histograms, member_edges, nan_means, subsample

# statistic of logit_stats → results.csv column
COLUMN_OF = {"norm": "logit_norm_mean", "margin": "logit_margin_mean",
             "margin_tau": "logit_margin_tau_mean", "entropy": "softmax_entropy_mean"}
COLUMNS = tuple(COLUMN_OF.values())


def logit_stats(logits: torch.Tensor, labels: torch.Tensor, temperatures
                ) -> dict[str, torch.Tensor]:
    """Per-sample statistics ``(N, K)`` float64: ``norm``, ``margin``, ``margin_tau``,
    ``entropy`` (see the module doc).

    Args:
        logits: ``(N, K, C)`` raw logits z; labels: ``(N,)``; temperatures: scalar or ``(K,)``.
    """
    if logits.dim() != 3 or logits.shape[-1] < 2:
        raise ValueError(f"expected banked logits (N, K, C ≥ 2), got {tuple(logits.shape)}")
    z = logits.double()
    onehot = F.one_hot(labels.to(z.device).long(), z.shape[-1]).bool().unsqueeze(1)
    true = z.masked_fill(~onehot, 0.0).sum(-1)  # z_y, (N, K)
    rival = z.masked_fill(onehot, -math.inf).max(-1).values
    tau = check_temperature(temperatures).to(z.device, torch.float64)
    tau = tau if tau.dim() == 0 else tau.view(1, -1)
    log_p = F.log_softmax(scale_logits(z, temperatures), -1)
    p = log_p.exp()
    entropy = -torch.where(p > 0, p * log_p, torch.zeros_like(p)).sum(-1)
    margin = true - rival
    return {"norm": z.norm(dim=-1), "margin": margin, "margin_tau": margin / tau,
            "entropy": entropy}


def logit_summary(logits: torch.Tensor, labels: torch.Tensor, temperatures
                  ) -> dict[str, list[float]]:
    """Per-member means of :func:`logit_stats`, keyed by results.csv column name
    (``logit_norm_mean`` …); NaN for a member with non-finite logits. Cheap enough to log per
    epoch on the validation probe batch."""
    ok = finite_members(logits)
    safe = torch.where(torch.isfinite(logits), logits, torch.zeros_like(logits))
    return {COLUMN_OF[k]: nan_means(v, ok) for k, v in logit_stats(safe, labels,
                                                                   temperatures).items()}


@dataclass(frozen=True)
class LogitOptions:
    """``eval.logits`` options: ``n_examples`` test examples (seeded subset; 0 = all) and
    ``bins`` histogram bins."""

    n_examples: int = 0
    bins: int = 30

    def __post_init__(self) -> None:
        check_int("logits", "n_examples", self.n_examples, 0)
        check_int("logits", "bins", self.bins, 1)


def run(ctx: EvalContext) -> EvalResult:
    """Logit norm, margin and predictive entropy of every member on the test split.

    Columns: ``logit_norm_mean``, ``logit_margin_mean``, ``logit_margin_tau_mean``,
    ``softmax_entropy_mean`` (NaN for diverged members).
    Arrays: ``norm_hist``/``margin_hist`` (K, bins) with per-member edges ``norm_edges``/
    ``margin_edges`` (K, bins + 1) (their ranges differ by orders of magnitude across τ);
    ``entropy_hist`` (K, bins) with shared ``entropy_edges`` (bins + 1,) on [0, log C].
    Info: ``n_examples``.
    """
    opts = parse_options(LogitOptions, ctx.options, "logits")
    z_all = cached_logits(ctx, "test")
    idx = subsample(z_all.shape[0], opts.n_examples, ctx.seed)
    z, y = z_all[idx], ctx.data.test.y.cpu()[idx]
    ok = finite_members(z)
    safe = torch.where(torch.isfinite(z), z, torch.zeros_like(z))
    stats = logit_stats(safe, y, ctx.temperatures.detach().double().cpu())
    columns = {COLUMN_OF[k]: nan_means(v, ok) for k, v in stats.items()}
    bad = (~ok).numpy()
    values = {}
    for name in ("norm", "margin", "entropy"):
        v = stats[name].numpy().copy()
        v[:, bad] = np.nan
        values[name] = v
    arrays = {}
    for name in ("norm", "margin"):
        edges = member_edges(values[name], opts.bins)
        arrays[f"{name}_edges"] = edges
        arrays[f"{name}_hist"] = histograms(values[name], edges)
    ent_edges = np.linspace(0.0, math.log(z.shape[-1]), opts.bins + 1)
    arrays["entropy_edges"] = ent_edges
    # rounding can put a uniform prediction a hair above log C, outside the last bin
    arrays["entropy_hist"] = histograms(np.clip(values["entropy"], 0.0, ent_edges[-1]), ent_edges)
    return EvalResult(columns=columns, arrays=arrays, info={"n_examples": int(idx.numel())})


EVALUATION = Evaluation(
    name="logits", order=50, summary="logit norm, margin, entropy",
    options=LogitOptions,
    columns=("logit_*", "softmax_entropy_mean"),
    section=("Logits during training", "section_logits"),
)
