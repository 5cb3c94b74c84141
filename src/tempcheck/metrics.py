"""Pure metric functions on logits and labels, used by training and evaluation alike.

Every function takes logits ``(N, C)`` or banked ``(N, K, C)`` and integer labels ``(N,)`` and
returns a float (unbanked) or a ``(K,)`` tensor (banked), one value per member. Probabilities are
computed from the logits as given (apply a temperature first with ``tempcheck.softmax`` if
wanted). Calibration definitions follow Guo et al. 2017 (docs/theory.md §4).

Calibration family: :func:`ece` (equal-width bins), :func:`adaptive_ece` (equal-mass bins),
:func:`classwise_ece`, :func:`mce` (maximum calibration error) and :func:`reliability_bins` (the
per-bin data of a reliability diagram, numpy arrays). Bin sums are accumulated in float64;
results come back in the logits' float dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _banked(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Return logits as (N, K, C) float, labels as (N, K) long, and whether input was banked."""
    if logits.dim() == 2:
        logits, banked = logits.unsqueeze(1), False
    elif logits.dim() == 3:
        banked = True
    else:
        raise ValueError(f"logits must be (N, C) or (N, K, C), got {tuple(logits.shape)}")
    labels = labels.to(device=logits.device, dtype=torch.long)
    if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"labels must be (N,) with N={logits.shape[0]}, got {tuple(labels.shape)}"
        )
    logits = logits.float() if logits.dtype != torch.float64 else logits
    return logits, labels.unsqueeze(1).expand(logits.shape[:2]), banked


def _out(values: torch.Tensor, banked: bool):
    return values if banked else float(values[0])


def accuracy(logits: torch.Tensor, labels: torch.Tensor):
    """Top-1 accuracy per member."""
    z, y, banked = _banked(logits, labels)
    return _out((z.argmax(-1) == y).float().mean(0), banked)


def nll(logits: torch.Tensor, labels: torch.Tensor):
    """Mean negative log-likelihood −log softmax(z)_y per member."""
    z, y, banked = _banked(logits, labels)
    logp = F.log_softmax(z, dim=-1)
    return _out(-logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(0), banked)


def brier(logits: torch.Tensor, labels: torch.Tensor):
    """Multiclass Brier score Σ_c (p_c − 1[c = y])², averaged over samples, per member."""
    z, y, banked = _banked(logits, labels)
    p = F.softmax(z, dim=-1)
    onehot = F.one_hot(y, p.shape[-1]).to(p.dtype)
    return _out(((p - onehot) ** 2).sum(-1).mean(0), banked)


def _top_label(logits: torch.Tensor, labels: torch.Tensor):
    """Confidence max_c p_c ``(N, K)``, correctness ``(N, K)`` (same dtype) and banked flag."""
    z, y, banked = _banked(logits, labels)
    p = F.softmax(z, dim=-1)
    conf, pred = p.max(-1)  # (N, K)
    return conf, (pred == y).to(conf.dtype), banked


def _check_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")


def _equal_width_bins(values: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Bin index of each value in [0, 1] for equal-width bins (lo, hi], the first [0, hi]."""
    return (values * n_bins).ceil().long().clamp(1, n_bins) - 1


def _equal_mass_bins(values: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Bin index (N, K) putting the sorted values of each column into ``n_bins`` bins whose
    sizes differ by at most one (ties split by sort order, which is stable)."""
    n = values.shape[0]
    order = values.argsort(dim=0, stable=True)  # (N, K)
    rank_bin = (torch.arange(n, device=values.device) * n_bins) // max(n, 1)  # (N,)
    bins = torch.empty_like(order)
    bins.scatter_(0, order, rank_bin.unsqueeze(1).expand_as(order).contiguous())
    return bins


def _bin_sums(values: torch.Tensor, hits: torch.Tensor, bins: torch.Tensor, n_bins: int):
    """Per column and bin: size, Σ values, Σ hits, each ``(M, n_bins)`` in float64.

    ``values``, ``hits`` and ``bins`` are ``(N, M)``; float64 sums keep counts of 10⁵+ samples
    exact and the gaps free of float32 cancellation."""
    n, m = values.shape
    column = torch.arange(m, device=values.device).expand(n, m)
    flat = (column * n_bins + bins).reshape(-1)

    def total(source: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(m * n_bins, dtype=torch.float64, device=values.device)
        return out.index_add_(0, flat, source.reshape(-1).double()).view(m, n_bins)

    return total(torch.ones_like(values)), total(values), total(hits)


def _top_label_gaps(logits, labels, n_bins: int, adaptive: bool):
    _check_bins(n_bins)
    conf, correct, banked = _top_label(logits, labels)
    bins = _equal_mass_bins(conf, n_bins) if adaptive else _equal_width_bins(conf, n_bins)
    size, conf_sum, acc_sum = _bin_sums(conf, correct, bins, n_bins)
    return size, conf_sum, acc_sum, conf.dtype, banked


def ece(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15):
    """Expected calibration error with ``n_bins`` equal-width confidence bins on max p:
    Σ_b |B_b|/n · |acc(B_b) − conf(B_b)| (Guo et al. 2017). Bins are (lo, hi], first [0, hi]."""
    size, conf_sum, acc_sum, dtype, banked = _top_label_gaps(logits, labels, n_bins, False)
    n = size.sum(1)
    return _out(((acc_sum - conf_sum).abs().sum(1) / n).to(dtype), banked)


def adaptive_ece(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15):
    """ECE with ``n_bins`` equal-mass bins: the samples sorted by confidence are cut into bins
    holding N/n_bins samples each (sizes differ by at most one), then
    Σ_b |B_b|/n · |acc(B_b) − conf(B_b)| (Nixon et al. 2019, "Measuring Calibration in Deep
    Learning"; Mukhoti et al. 2020). Less sensitive than ECE to the many empty low-confidence
    bins of an accurate model."""
    size, conf_sum, acc_sum, dtype, banked = _top_label_gaps(logits, labels, n_bins, True)
    n = size.sum(1)
    return _out(((acc_sum - conf_sum).abs().sum(1) / n).to(dtype), banked)


def mce(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15):
    """Maximum calibration error: max over non-empty equal-width bins of |acc(B_b) − conf(B_b)|
    (Naeini et al. 2015; Guo et al. 2017). Same bins as :func:`ece`."""
    size, conf_sum, acc_sum, dtype, banked = _top_label_gaps(logits, labels, n_bins, False)
    gap = (acc_sum - conf_sum).abs() / size.clamp(min=1)
    gap = torch.where(size > 0, gap, torch.zeros_like(gap))
    return _out(gap.max(1).values.to(dtype), banked)


def classwise_ece(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15):
    """Class-wise ECE (Kull et al. 2019, "Beyond temperature scaling"): for every class c the
    probabilities p_c of all samples go into equal-width bins and
    ECE_c = Σ_b |B_b|/n · |freq(y = c in B_b) − mean p_c in B_b|; the result is the mean of
    ECE_c over the C classes. Bins as in :func:`ece`; p_c = 0 falls in the first bin."""
    _check_bins(n_bins)
    z, y, banked = _banked(logits, labels)
    p = F.softmax(z, dim=-1)  # (N, K, C)
    n, k, c = p.shape
    hits = F.one_hot(y, c).to(p.dtype)
    values, hits = p.reshape(n, k * c), hits.reshape(n, k * c)  # one column per (member, class)
    size, p_sum, hit_sum = _bin_sums(values, hits, _equal_width_bins(values, n_bins), n_bins)
    per_class = ((hit_sum - p_sum).abs().sum(1) / n).view(k, c)
    return _out(per_class.mean(1).to(p.dtype), banked)


def reliability_bins(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15):
    """The data of a reliability diagram: equal-width bins on the confidence max p (as in
    :func:`ece`).

    Returns a dict of numpy arrays: ``edges`` (n_bins + 1,), ``counts`` (int64), ``confidence``
    (mean max p per bin) and ``accuracy`` (fraction correct per bin), each ``(n_bins,)`` for
    logits (N, C) or ``(K, n_bins)`` for banked logits (N, K, C). Empty bins have NaN confidence
    and accuracy. ECE = Σ_b counts_b/n · |accuracy_b − confidence_b| over non-empty bins."""
    size, conf_sum, acc_sum, _, banked = _top_label_gaps(logits, labels, n_bins, False)
    empty = size == 0
    safe = size.clamp(min=1)
    nan = torch.full_like(size, float("nan"))
    out = {
        "edges": torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64).numpy(),
        "counts": size.round().long().cpu().numpy(),
        "confidence": torch.where(empty, nan, conf_sum / safe).cpu().numpy(),
        "accuracy": torch.where(empty, nan, acc_sum / safe).cpu().numpy(),
    }
    if not banked:
        out = {key: (v if key == "edges" else v[0]) for key, v in out.items()}
    return out


def mean_logit_norm(logits: torch.Tensor):
    """Mean L2 norm of the logit vector per member (the ‖z‖ of docs/theory.md §3)."""
    z = logits if logits.dim() == 3 else logits.unsqueeze(1)
    values = z.float().norm(dim=-1).mean(0)
    return values if logits.dim() == 3 else float(values[0])


def summary(
    logits: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> dict[str, torch.Tensor]:
    """acc, nll, ece, brier per member as a dict of (K,) tensors (banked logits required)."""
    if logits.dim() != 3:
        raise ValueError("summary expects banked logits (N, K, C)")
    return {
        "acc": accuracy(logits, labels),
        "nll": nll(logits, labels),
        "ece": ece(logits, labels, n_bins),
        "brier": brier(logits, labels),
    }
