"""``gradients``: how the tempered cross-entropy spreads its gradient over the negative classes.

With penultimate features f and a linear head z_j = w_j·f + b_j (docs/theory.md §2; Xuan, Yang,
Li 2025, arXiv 2502.20604):

    ∂CE_τ/∂f = −((1 − p_y)/τ) · [ w_y − Σ_{j≠y} q_j w_j ],   q_j = p_j / (1 − p_y),

where p = softmax(z/τ), so q is the softmax of z_j/τ over the negative classes j ≠ y. The
scalar (1 − p_y)/τ (the *step factor*) sets the step size, q the direction. τ → 0 puts all of q
on the hardest negative; τ → ∞ spreads it evenly, q_j → 1/(C − 1).

Per-sample balance statistics (C classes, C − 1 negatives):
- ``entropy_norm``: H(q)/log(C − 1) ∈ [0, 1] (1 = perfectly balanced); NaN when C < 3.
- ``eff_negatives``: exp(H(q)) ∈ [1, C − 1], the number of negatives effectively pushed.
- ``max_q``: the largest q_j. q is monotone in z_j, so it is always the weight of the hardest
  negative (largest logit), i.e. that negative's share of the L1 mass of the negative-class
  gradient ∂CE/∂z_{j≠y} = (1 − p_y) q_j / τ.
- ``hardest_share``: the hardest negative's share of the *squared* norm of that gradient,
  max_j q_j² / Σ_j q_j² ∈ [1/(C − 1), 1]; it separates "one confuser and a flat rest" from
  "two equal confusers", which max q alone does not.
- ``step_factor``: (1 − p_y)/τ, computed as exp(logsumexp_{j≠y} u_j − logsumexp_j u_j)/τ with
  u = z/τ, so it stays accurate (no 1 − p_y cancellation) when p_y is within float eps of 1.

:func:`gradient_balance_means` gives the per-member means for per-epoch logging; the evaluation
:func:`run` adds a check of the closed form against autograd through the model's own head.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.base import as_float
from ..eval.base import EvalContext, EvalResult, Evaluation, cached_logits, parse_options
from ..softmax import check_temperature, scale_logits, tempered_cross_entropy
from .common import check_int, finite_members, histograms, nan_means, subsample

COLUMNS = ("grad_q_entropy", "grad_eff_negatives", "grad_max_q", "grad_hardest_share",
           "grad_step_factor", "grad_closed_form_error")

# statistic of gradient_balance → results.csv column
_COLUMN_OF = {"entropy_norm": "grad_q_entropy", "eff_negatives": "grad_eff_negatives",
              "max_q": "grad_max_q", "hardest_share": "grad_hardest_share",
              "step_factor": "grad_step_factor"}


def _tau_column(temperatures, logits: torch.Tensor) -> torch.Tensor:
    """τ shaped to broadcast against per-sample statistics (N, K): () or (1, K)."""
    tau = check_temperature(temperatures).to(logits.device, torch.float64)
    return tau if tau.dim() == 0 else tau.view(1, -1)


def _banked(logits: torch.Tensor) -> torch.Tensor:
    if logits.dim() != 3:
        raise ValueError(f"expected banked logits (N, K, C), got {tuple(logits.shape)}")
    if logits.shape[-1] < 2:
        raise ValueError("need at least 2 classes for negative-class weights")
    return logits.double()


def _true_mask(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N, K, C) bool, True at the true class."""
    onehot = F.one_hot(labels.to(logits.device).long(), logits.shape[-1]).bool()  # (N, C)
    return onehot.unsqueeze(1).expand_as(logits)


def negative_log_weights(logits: torch.Tensor, labels: torch.Tensor, temperatures
                         ) -> torch.Tensor:
    """log q ``(N, K, C)`` in float64: log-softmax of z_j/τ over the negatives j ≠ y, −inf at y.

    Args:
        logits: ``(N, K, C)``; labels: ``(N,)``; temperatures: scalar or ``(K,)``.
    """
    u = scale_logits(_banked(logits), temperatures)
    return F.log_softmax(u.masked_fill(_true_mask(u, labels), -math.inf), dim=-1)


def negative_weights(logits: torch.Tensor, labels: torch.Tensor, temperatures) -> torch.Tensor:
    """q ``(N, K, C)``: the negative-class gradient weights p_j/(1 − p_y), 0 at the true class,
    summing to 1 over j ≠ y (docs/theory.md §2)."""
    return negative_log_weights(logits, labels, temperatures).exp()


def step_factor(logits: torch.Tensor, labels: torch.Tensor, temperatures) -> torch.Tensor:
    """(1 − p_y)/τ ``(N, K)`` in float64, without cancellation when p_y ≈ 1."""
    u = scale_logits(_banked(logits), temperatures)
    neg = u.masked_fill(_true_mask(u, labels), -math.inf)
    log_rest = torch.logsumexp(neg, -1) - torch.logsumexp(u, -1)  # log(1 − p_y)
    return log_rest.exp() / _tau_column(temperatures, u)


def gradient_balance(logits: torch.Tensor, labels: torch.Tensor, temperatures
                     ) -> dict[str, torch.Tensor]:
    """Per-sample balance statistics, each ``(N, K)`` float64: ``entropy_norm``,
    ``eff_negatives``, ``max_q``, ``hardest_share``, ``step_factor`` (see the module doc)."""
    log_q = negative_log_weights(logits, labels, temperatures)
    q = log_q.exp()
    plogp = torch.where(q > 0, q * log_q, torch.zeros_like(q))
    entropy = -plogp.sum(-1)  # (N, K)
    n_neg = logits.shape[-1] - 1
    norm = math.log(n_neg) if n_neg > 1 else math.nan
    q_max = q.max(-1).values
    return {
        "entropy_norm": entropy / norm,
        "eff_negatives": entropy.exp(),
        "max_q": q_max,
        "hardest_share": q_max.square() / q.square().sum(-1),
        "step_factor": step_factor(logits, labels, temperatures),
    }


def gradient_balance_means(logits: torch.Tensor, labels: torch.Tensor, temperatures
                           ) -> dict[str, list[float]]:
    """Per-member means of :func:`gradient_balance`, keyed by their results.csv column names
    (``grad_q_entropy`` …); NaN for a member with non-finite logits. Cheap: meant to be logged
    per epoch on a fixed probe batch (e.g. the validation probe in ``train/loop.py``)."""
    ok = finite_members(logits)
    safe = torch.where(torch.isfinite(logits), logits, torch.zeros_like(logits))
    stats = gradient_balance(safe, labels, temperatures)
    return {_COLUMN_OF[k]: nan_means(v, ok) for k, v in stats.items()}


# -- the closed form against autograd ---------------------------------------------------------

def closed_form_feature_gradient(features: torch.Tensor, weight: torch.Tensor,
                                 bias: torch.Tensor | None, labels: torch.Tensor, temperatures
                                 ) -> torch.Tensor:
    """∂CE_τ/∂f ``(N, K, D)`` from docs/theory.md §2, −((1 − p_y)/τ)·[w_y − Σ_{j≠y} q_j w_j].

    Args:
        features: ``(N, K, D)`` penultimate features; weight: the head's ``(K, D, C)`` (column
            j of member k is w_j); bias: ``(K, C)`` or None; labels ``(N,)``; τ scalar or (K,).
    """
    f = features.double()
    w = weight.detach().double()
    z = torch.einsum("nkd,kdc->nkc", f, w)
    if bias is not None:
        z = z + bias.detach().double()
    q = negative_weights(z, labels, temperatures)  # (N, K, C), 0 at y
    onehot = _true_mask(z, labels).double()
    direction = torch.einsum("nkc,kdc->nkd", onehot - q, w)  # w_y − Σ q_j w_j
    return -step_factor(z, labels, temperatures).unsqueeze(-1) * direction


def measured_feature_gradient(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor,
                              temperatures) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Autograd ∂CE_τ/∂f through the model's own ``head`` (in float64).

    Features come from ``model(x, return_features=True)`` in eval mode; a float64 copy of
    ``model.head`` maps them to logits, and the gradient of Σ_n Σ_k CE_{τ_k} with respect to
    the features is per-sample and per-member (each logit row depends on its own feature row).

    Returns:
        ``(features (N, K, D) float64, gradient (N, K, D) float64, head_error)``, where
        ``head_error`` is the max |head(f) − model logits| (it shows the head really is the
        last map, so the check is about this model).
    """
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            feats, logits = model(as_float(x), return_features=True)
    finally:
        model.train(was)
    head = copy.deepcopy(model.head).double().cpu()
    f = feats.detach().double().cpu().requires_grad_(True)
    z = head(f)
    gap = (z.detach() - logits.detach().double().cpu()).abs()
    gap = gap[torch.isfinite(gap)]
    head_error = float(gap.max()) if gap.numel() else math.nan
    loss = tempered_cross_entropy(z, labels.cpu(), temperatures, reduction="sum").sum()
    (grad,) = torch.autograd.grad(loss, f)
    return f.detach(), grad, head_error


def rounding_floor(weight: torch.Tensor, temperatures, saturation: float = 1e-10
                   ) -> torch.Tensor:
    """``(K,)`` gradient norm below which the check compares in absolute terms:
    ``saturation``·max_j ‖w_j‖/τ, the size of ∂CE_τ/∂f when 1 − p_y ≈ ``saturation``.

    Autograd forms (p − e_y)/τ with an absolute error ~ε₆₄ in p_y − 1, so its relative error
    is ~ε₆₄/(1 − p_y): about 1 at a saturated sample (1 − p_y ~ 1e−16, common for a trained
    cold member), 2e−6 at 1 − p_y = 1e−10. With this floor the reported discrepancy stays at
    that rounding level instead of measuring autograd's own cancellation."""
    w_norm = weight.detach().double().norm(dim=1).max(dim=-1).values  # (K,)
    tau = check_temperature(temperatures).double().reshape(-1)
    return saturation * w_norm / tau


def relative_discrepancy(measured: torch.Tensor, closed: torch.Tensor,
                         floor: torch.Tensor | None = None) -> torch.Tensor:
    """Max over samples of ‖measured − closed‖ / max(‖closed‖, floor_k) per member, ``(K,)``.

    ``floor`` ``(K,)`` (default 0, see :func:`rounding_floor`) keeps saturated samples, whose
    gradient is at the rounding level, from turning rounding noise into a large relative
    error; without a floor a sample with a zero closed-form gradient counts 0 if the measured
    one is 0 too, else inf."""
    diff = (measured - closed).norm(dim=-1)  # (N, K)
    ref = closed.norm(dim=-1)
    if floor is not None:
        ref = torch.maximum(ref, floor.to(ref).view(1, -1))
    rel = torch.where(ref > 0, diff / ref.clamp_min(1e-300),
                      torch.where(diff > 0, torch.full_like(diff, math.inf),
                                  torch.zeros_like(diff)))
    return rel.max(0).values if rel.shape[0] else torch.zeros(rel.shape[1], dtype=rel.dtype)


def has_bank_head(model: torch.nn.Module) -> bool:
    from ..models.layers import BankLinear

    return isinstance(getattr(model, "head", None), BankLinear)


# -- the evaluation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class GradientOptions:
    """``eval.gradients`` options.

    - ``n_examples``: test examples (seeded subset) for the statistics; 0 = the whole split.
    - ``check_examples``: test examples for the autograd check of the closed form; 0 skips it.
    - ``bins``: histogram bins on [0, 1] for the normalised entropy and max q.
    """

    n_examples: int = 0
    check_examples: int = 128
    bins: int = 20

    def __post_init__(self) -> None:
        check_int("gradients", "n_examples", self.n_examples, 0)
        check_int("gradients", "check_examples", self.check_examples, 0)
        check_int("gradients", "bins", self.bins, 1)


def run(ctx: EvalContext) -> EvalResult:
    """Gradient balance of every member on the test split.

    Columns: ``grad_q_entropy`` (mean H(q)/log(C − 1)), ``grad_eff_negatives`` (mean exp H(q)),
    ``grad_max_q``, ``grad_hardest_share``, ``grad_step_factor`` (mean (1 − p_y)/τ), and
    ``grad_closed_form_error`` (max relative discrepancy between the autograd feature gradient
    and the closed form, relative to max(‖gradient‖, :func:`rounding_floor`); NaN when
    skipped).
    Arrays: ``hist_edges`` (bins + 1,) on [0, 1]; ``entropy_hist``, ``max_q_hist`` (K, bins)
    counts; ``q_sorted_mean`` (K, C − 1) mean of q sorted in decreasing order (rank profile).
    Info: ``n_examples``, ``check_examples``, ``check`` ("ok" or why skipped), ``head_error``.
    """
    opts = parse_options(GradientOptions, ctx.options, "gradients")
    k = ctx.members
    z_all = cached_logits(ctx, "test")
    y_all = ctx.data.test.y.cpu()
    idx = subsample(z_all.shape[0], opts.n_examples, ctx.seed)
    z, y = z_all[idx], y_all[idx]
    tau = ctx.temperatures.detach().double().cpu()
    ok = finite_members(z)
    safe = torch.where(torch.isfinite(z), z, torch.zeros_like(z))
    stats = gradient_balance(safe, y, tau)
    columns: dict[str, list] = {_COLUMN_OF[s]: nan_means(v, ok) for s, v in stats.items()}
    edges = np.linspace(0.0, 1.0, opts.bins + 1)
    bad = (~ok).numpy()
    ent, mq = stats["entropy_norm"].numpy().copy(), stats["max_q"].numpy().copy()
    ent[:, bad], mq[:, bad] = np.nan, np.nan
    q = negative_weights(safe, y, tau).sort(dim=-1, descending=True).values[..., :-1]
    q_profile = q.mean(0).numpy()  # (K, C − 1)
    q_profile[bad] = np.nan
    arrays = {"hist_edges": edges, "entropy_hist": histograms(ent, edges),
              "max_q_hist": histograms(mq, edges), "q_sorted_mean": q_profile}
    info: dict = {"n_examples": int(idx.numel()), "check_examples": 0, "head_error": None}
    columns["grad_closed_form_error"] = [math.nan] * k
    if opts.check_examples == 0:
        info["check"] = "skipped: check_examples = 0"
    elif not has_bank_head(ctx.model):
        info["check"] = "skipped: the model has no BankLinear `head`"
    else:
        cidx = subsample(len(ctx.data.test), opts.check_examples, ctx.seed + 1)
        x = ctx.data.test.x[cidx].to(ctx.device)
        yc = y_all[cidx]
        feats, measured, head_error = measured_feature_gradient(ctx.model, x, yc, tau)
        head = ctx.model.head
        closed = closed_form_feature_gradient(feats, head.weight.cpu(),
                                              None if head.bias is None else head.bias.cpu(),
                                              yc, tau)
        err = relative_discrepancy(measured, closed, rounding_floor(head.weight.cpu(), tau))
        fin = finite_members(feats)
        columns["grad_closed_form_error"] = [float(e) if bool(o) else math.nan
                                             for e, o in zip(err.tolist(), fin.tolist())]
        info.update(check="ok", check_examples=int(cidx.numel()),
                    head_error=head_error if math.isfinite(head_error) else None)
    return EvalResult(columns=columns, arrays=arrays, info=info)


EVALUATION = Evaluation(
    name="gradients", order=40, summary="negative-class gradient balance",
    options=GradientOptions,
    columns=("grad_*",),
    section=("Gradient balance across negative classes", "section_gradients"),
)
