"""Fitting temperature scaling: one T per member minimising the NLL of softmax(z / T)
(Guo et al. 2017, "On Calibration of Modern Neural Networks", ICML).

- Fitted in float64 on log T with ``torch.optim.LBFGS`` and a strong-Wolfe line search,
  restarted until |∂NLL/∂log T| < ``grad_tol`` (1e-6) — a classic pitfall is L-BFGS stopping
  after a few iterations with a poor T.
- log T is kept inside [log lower, log upper] (default T ∈ [0.01, 100]) by the parametrisation
  log T = c + h·tanh(u), so no step can overflow. NLL is convex in β = 1/T, hence unimodal in
  log T. Whether it has a finite minimiser at all is decided exactly before iterating: a
  separable validation set (every sample strictly right) has NLL → 0 as T → 0, a
  worse-than-chance one (mean_n(mean_c z − z_y) ≥ 0) is best at T → ∞; such members are set to
  the bound without iterating (``limit``). When the finite minimiser lies beyond a bound, the
  tanh saturates and the sign of ∂NLL/∂log T at the bound confirms it. Either way the fit
  reports ``bound_hit = "lower" | "upper"``.
- Sets of ≥ 32,768 rows start from a fit on a strided ~8k-row subsample (about 5 evaluations
  on the full set instead of ~10).
- A banked fit is one optimisation whose loss is the sum of the K members' mean NLLs, which
  share no parameter, so it equals K separate fits. Argmax is unchanged, so accuracy is too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .inputs import GRAD_TOL, per_member, prepare

DEFAULT_LOWER = 0.01  # default bounds on the fitted temperature T
DEFAULT_UPPER = 100.0
WARM_START_ROWS = 8192  # sets of ≥ 4× this many rows start from a fit on a strided subsample


class _TemperatureNLL:
    """NLL_k(s) of softmax(z / e^s) and ∂NLL_k/∂s for all members in one pass.

    With m = max_c z and β = e^{-s}: NLL = mean_n[log Σ_c e^{β(z − m)}] + β·mean_n(m − z_y) and
    ∂NLL/∂β = mean_n E_p[z − m] + mean_n(m − z_y), so each evaluation costs one exp over (N, K, C)
    and never overflows (β(z − m) ≤ 0)."""

    def __init__(self, shifted: torch.Tensor, true_shift: torch.Tensor):
        self.shifted = shifted  # z − max_c z, (N, K, C), ≤ 0
        self.true_shift = true_shift  # z_y − max_c z, (N, K), ≤ 0
        self.margin = -true_shift.mean(0)  # mean_n(m − z_y), (K,)
        self.calls = 0
        self._buffer = torch.empty_like(shifted)

    @classmethod
    def from_logits(cls, z: torch.Tensor, y: torch.Tensor) -> _TemperatureNLL:
        """From float64 logits (N, K, C), which it overwrites (saves a copy of N·K·C)."""
        shifted = z.sub_(z.max(-1, keepdim=True).values)
        true = shifted.gather(-1, y.view(-1, 1, 1).expand(-1, z.shape[1], 1)).squeeze(-1)
        return cls(shifted, true)

    def members(self, idx: list[int]) -> _TemperatureNLL:
        """The objective of a subset of the members."""
        return _TemperatureNLL(self.shifted[:, idx], self.true_shift[:, idx])

    def __call__(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        beta = torch.exp(-s)  # (K,)
        buf = torch.mul(self.shifted, beta.view(1, -1, 1), out=self._buffer)
        buf.exp_()
        total = buf.sum(-1)  # (N, K), ≥ 1
        buf.mul_(self.shifted)
        expected_shift = (buf.sum(-1) / total).mean(0)  # (K,)
        nll = total.log().mean(0) + beta * self.margin
        return nll, -beta * (expected_shift + self.margin)


def _limit_outside(objective: _TemperatureNLL) -> list[str]:
    """Per member, where the NLL of softmax(z / T) has its infimum when that is not at a finite T.

    NLL is convex in β = 1/T. "lower" (T → 0): every sample strictly right (z_y the unique
    maximum), NLL → 0 as β → ∞. "upper" (T → ∞): ∂NLL/∂β at β = 0, mean_n(mean_c z − z_y), is
    ≥ 0. "flat": constant rows, NLL = log C for every T. "" otherwise (a finite minimiser)."""
    shifted, true_shift = objective.shifted, objective.true_shift
    slope_at_zero = (shifted.mean(-1) - true_shift).mean(0)  # (K,)
    top_is_true = (true_shift == 0).all(0)  # (K,)
    out = []
    for m in range(shifted.shape[1]):
        ties = (shifted[:, m] == 0).sum(-1) if top_is_true[m] else None  # (N,) maxima per row
        if ties is not None and bool((ties == shifted.shape[-1]).all()):
            out.append("flat")
        elif ties is not None and bool((ties == 1).all()):
            out.append("lower")
        elif slope_at_zero[m] >= 0:
            out.append("upper")
        else:
            out.append("")
    return out


@dataclass
class TemperatureFit:
    """Outcome of :func:`fit_temperature`; every per-member entry has length K.

    - ``temperature``: fitted T (K,) float64.
    - ``iterations``: L-BFGS iterations of the joint optimisation (0 for a member not optimised).
    - ``evaluations``: NLL evaluations on the full set, each one pass over (N, K, C) (not
      counting the warm start's on a subsample of ~8k rows, used when N ≥ 32,768).
    - ``final_grad``: ∂NLL/∂log T at the returned T (K,).
    - ``bound_hit``: "" or "lower" / "upper" when the minimiser lies beyond that bound (T was set
      to the bound); "flat" when the NLL does not depend on T (constant logits; T left at the
      geometric mean of the bounds).
    - ``nll``: validation NLL at the returned T (K,).
    - ``lower``, ``upper``: the bounds used (K,).
    - ``limit``: "" when the NLL has a minimiser at a finite T > 0; otherwise where its infimum
      lies without bounds: "lower" (separable set, T → 0), "upper" (worse than chance, T → ∞)
      or "flat". Decided exactly, before any iteration."""

    temperature: torch.Tensor
    iterations: list[int]
    evaluations: int
    final_grad: torch.Tensor
    bound_hit: list[str]
    nll: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    limit: list[str]
    grad_tol: float = GRAD_TOL

    @property
    def converged(self) -> list[bool]:
        """Per member: at a bound, or |∂NLL/∂log T| < grad_tol."""
        return [bool(hit) or abs(float(g)) < self.grad_tol
                for hit, g in zip(self.bound_hit, self.final_grad)]

    def member_info(self, k: int) -> dict:
        """JSON-ready diagnostics of member k."""
        return {
            "temperature": float(self.temperature[k]), "iterations": self.iterations[k],
            "evaluations": self.evaluations, "final_grad": float(self.final_grad[k]),
            "bound_hit": self.bound_hit[k], "limit": self.limit[k],
            "converged": self.converged[k], "val_nll": float(self.nll[k]),
        }


def fit_temperature(
    logits: torch.Tensor, labels: torch.Tensor, *, lower=DEFAULT_LOWER, upper=DEFAULT_UPPER,
    grad_tol: float = GRAD_TOL, max_iter: int = 100, max_rounds: int = 5,
) -> TemperatureFit:
    """Fit one temperature per member by minimising the NLL of softmax(z / T) (Guo et al. 2017).

    Args:
        logits: ``(N, C)`` or ``(N, K, C)`` validation logits (never probabilities: those raise a
            :class:`ProbabilityInputWarning`). Must be finite.
        labels: ``(N,)`` integer labels in [0, C).
        lower, upper: bounds on T, scalars or ``(K,)``; 0 < lower < upper.
        grad_tol: target for |∂NLL/∂log T| at the end.
        max_iter: L-BFGS iterations per round; ``max_rounds`` restarts at most.

    Returns:
        a :class:`TemperatureFit` (one entry per member; K = 1 for ``(N, C)`` logits).
    """
    z, y = prepare(logits, labels)
    k = z.shape[1]
    lo = per_member(lower, k, "lower").log()
    hi = per_member(upper, k, "upper").log()
    if not bool(torch.isfinite(lo).all() and torch.isfinite(hi).all() and (lo < hi).all()):
        raise ValueError("temperature bounds must satisfy 0 < lower < upper < inf")
    objective = _TemperatureNLL.from_logits(z, y)
    limit = _limit_outside(objective)
    bound_hit = list(limit)
    s = (lo + hi) / 2  # geometric mean of the bounds (T = 1 for the default bounds)
    for m, hit in enumerate(bound_hit):
        if hit in ("lower", "upper"):
            s[m] = lo[m] if hit == "lower" else hi[m]
    free = [m for m in range(k) if not bound_hit[m]]
    sub, iterations, final = objective, [0] * k, None
    if free:
        sub = objective if len(free) == k else objective.members(free)
        start = None
        if sub.shifted.shape[0] >= 4 * WARM_START_ROWS:
            # Most of the way on every stride-th row; the full set then needs ~4 evaluations.
            stride = sub.shifted.shape[0] // WARM_START_ROWS
            coarse = _TemperatureNLL(sub.shifted[::stride].contiguous(),
                                     sub.true_shift[::stride].contiguous())
            start, _, _ = _lbfgs_log_temperature(coarse, lo[free], hi[free], grad_tol=grad_tol,
                                                 max_iter=max_iter, max_rounds=1)
        s_free, final, n_iter = _lbfgs_log_temperature(
            sub, lo[free], hi[free], grad_tol=grad_tol, max_iter=max_iter, max_rounds=max_rounds,
            start=start)
        s[free] = s_free
        for m in free:
            iterations[m] = n_iter
        # The tanh saturates towards a bound when the minimiser lies beyond it; the sign of the
        # gradient at the bound (NLL is unimodal in log T) confirms it.
        near = [m for m in free if min(s[m] - lo[m], hi[m] - s[m]) < 1e-3]
        if near or len(free) < k:
            probe = s.clone()
            for m in near:
                probe[m] = lo[m] if s[m] - lo[m] < hi[m] - s[m] else hi[m]
            nll_probe, g_probe = objective(probe)
            for m in near:
                outward = g_probe[m] >= 0 if probe[m] == lo[m] else g_probe[m] <= 0
                if outward:
                    s[m] = probe[m]
                    bound_hit[m] = "lower" if probe[m] == lo[m] else "upper"
            final = (nll_probe, g_probe) if torch.equal(s, probe) else None
    if final is None:
        final = objective(s)
    evaluations = objective.calls + (sub.calls if sub is not objective else 0)
    nll, grad = final
    return TemperatureFit(
        temperature=s.exp(), iterations=iterations, evaluations=evaluations,
        final_grad=grad, bound_hit=bound_hit, nll=nll, lower=lo.exp(), upper=hi.exp(),
        limit=limit, grad_tol=grad_tol,
    )


def _lbfgs_log_temperature(objective, lo, hi, *, grad_tol, max_iter, max_rounds, start=None):
    """Minimise Σ_k NLL_k over log T_k = c_k + h_k·tanh(u_k) with L-BFGS (strong Wolfe), from
    log T = ``start`` (default: the centre of the bounds).

    Returns (log T, (nll, ∂NLL/∂log T) at it, iterations)."""
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    u = torch.zeros_like(lo)
    if start is not None:
        # |u| ≤ 3 keeps the tanh's slope ≥ 1% so a start near a bound can still move away
        u = torch.atanh(((start - centre) / half).clamp(-0.995, 0.995))
    u.requires_grad_(True)
    last: dict = {}

    def closure():
        with torch.no_grad():
            th = torch.tanh(u)
            nll, g_s = objective(centre + half * th)
            u.grad = g_s * half * (1 - th * th)  # chain rule through the tanh bound
            last.update(u=u.detach().clone(), value=(nll, g_s))
        return nll.sum()

    iterations = 0
    for _ in range(max_rounds):
        # A tiny tolerance_change: the default 1e-9 on the loss lets L-BFGS stop while
        # |∂NLL/∂log T| is still around 1e-5.
        opt = torch.optim.LBFGS(
            [u], lr=1.0, max_iter=max_iter, max_eval=max_iter * 2, history_size=10,
            tolerance_grad=grad_tol * 1e-4, tolerance_change=1e-18,
            line_search_fn="strong_wolfe",
        )
        opt.step(closure)
        iterations += int(opt.state[u]["n_iter"])
        if not torch.equal(last["u"], u.detach()):
            closure()  # L-BFGS ended away from its last evaluation: evaluate the end point
        if float(last["value"][1].abs().max()) < grad_tol:
            break
    with torch.no_grad():
        return centre + half * torch.tanh(u.detach()), last["value"], iterations
