"""Post-hoc scaling of logits: temperature scaling and vector scaling (Guo et al. 2017, "On
Calibration of Modern Neural Networks", ICML; docs/theory.md §4).

Both scalers are fitted by minimising the NLL on held-out (validation) logits and then applied to
any logits. Logits are ``(N, C)`` or banked ``(N, K, C)``; a banked fit is one optimisation whose
loss is the sum of the K members' mean NLLs, which share no parameter, so it equals K separate fits.

Temperature scaling, p = softmax(z / T) with one T per member:

- fitted in float64 on log T with ``torch.optim.LBFGS`` and a strong-Wolfe line search, restarted
  until |∂NLL/∂log T| < ``grad_tol`` (1e-6) — a classic pitfall is L-BFGS stopping after a few
  iterations with a poor T;
- log T is kept inside [log lower, log upper] (default T ∈ [0.01, 100]) by the parametrisation
  log T = c + h·tanh(u), so no step can overflow. NLL is convex in β = 1/T, hence unimodal in
  log T. Whether it has a finite minimiser at all is decided exactly before iterating: a
  separable validation set (every sample strictly right) has NLL → 0 as T → 0, a
  worse-than-chance one (mean_n(mean_c z − z_y) ≥ 0) is best at T → ∞; such members are set to
  the bound without iterating (``limit``). When the finite minimiser lies beyond a bound, the
  tanh saturates and the sign of ∂NLL/∂log T at the bound confirms it. Either way the fit
  reports ``bound_hit = "lower" | "upper"``;
- sets of ≥ 32,768 rows start from a fit on a strided ~8k-row subsample (about 5 evaluations on
  the full set instead of ~10);
- argmax is unchanged, so accuracy is unchanged.

Vector scaling: z' = w ⊙ z + b with a per-class scale w and bias b per member (Guo et al. 2017
§4.2), fitted in float64 with L-BFGS (strong Wolfe) from w = 1/T, b = 0. It can change accuracy.
It has no guard against divergence on separable sets; ``converged`` reports it.

Scalers save to / load from JSON (``save(path)`` / ``load(path)``, or ``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import DataError

DEFAULT_LOWER = 0.01  # default bounds on the fitted temperature T
DEFAULT_UPPER = 100.0
GRAD_TOL = 1e-6  # the fit ends with |∂NLL/∂log T| below this
WARM_START_ROWS = 8192  # sets of ≥ 4× this many rows start from a fit on a strided subsample
FORMAT = "tempcheck.scaler"
FORMAT_VERSION = 1


class ProbabilityInputWarning(UserWarning):
    """Scaling was asked of what look like probabilities, not logits."""


def looks_like_probabilities(logits: torch.Tensor, atol: float = 1e-4) -> bool:
    """True when every row of ``logits`` (…, C) is non-negative and sums to 1 within ``atol``."""
    if logits.numel() == 0 or float(logits.min()) < 0:
        return False
    return bool(((logits.detach().sum(-1, dtype=torch.float64) - 1.0).abs() <= atol).all())


def _prepare(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a fitting set; return logits ``(N, K, C)`` float64 and labels ``(N,)`` long."""
    if logits.dim() not in (2, 3):
        raise ValueError(f"logits must be (N, C) or (N, K, C), got {tuple(logits.shape)}")
    z = logits.detach().cpu()
    z = z.unsqueeze(1) if z.dim() == 2 else z
    n, _, c = z.shape
    y = torch.as_tensor(labels).detach().cpu()
    if y.dim() != 1 or y.shape[0] != n:
        raise ValueError(f"labels must be (N,) with N={n}, got {tuple(y.shape)}")
    if n == 0:
        raise DataError("cannot fit a scaler on an empty set of logits")
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise DataError("labels must be integers")
    y = y.long()
    if int(y.min()) < 0 or int(y.max()) >= c:
        raise DataError(f"labels must lie in [0, {c - 1}], got [{int(y.min())}, {int(y.max())}]")
    if not z.is_floating_point():
        z = z.double()
    # A finite float64 sum implies every entry is finite (NaN / ±inf propagate); only an
    # overflowing sum of huge finite values needs the elementwise check.
    if not math.isfinite(float(z.sum(dtype=torch.float64))) and not bool(torch.isfinite(z).all()):
        raise DataError("logits contain NaN or inf")
    if looks_like_probabilities(z):
        warnings.warn(
            "the inputs look like probabilities (rows non-negative, summing to 1), not logits; "
            "scaling probabilities is a known mistake — pass logits, or log-probabilities",
            ProbabilityInputWarning, stacklevel=3,
        )
    return z.to(torch.float64, copy=True), y  # a private copy: callers may work in place


def _per_member(value, k: int, name: str) -> torch.Tensor:
    """A scalar or (K,) value as a (K,) float64 tensor."""
    t = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
    if t.numel() == 1:
        t = t.expand(k).clone()
    if t.shape[0] != k:
        raise ValueError(f"{name} must be a scalar or have {k} entries, got {t.numel()}")
    return t


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
    z, y = _prepare(logits, labels)
    k = z.shape[1]
    lo = _per_member(lower, k, "lower").log()
    hi = _per_member(upper, k, "upper").log()
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


@dataclass
class VectorFit:
    """Outcome of :func:`fit_vector_scaling`: ``weight`` and ``bias`` (K, C) float64,
    ``iterations``, ``final_grad`` (K,) max |gradient| per member, ``nll`` (K,) validation NLL."""

    weight: torch.Tensor
    bias: torch.Tensor
    iterations: int
    final_grad: torch.Tensor
    nll: torch.Tensor
    grad_tol: float = GRAD_TOL

    @property
    def converged(self) -> list[bool]:
        return [float(g) < self.grad_tol for g in self.final_grad]

    def member_info(self, k: int) -> dict:
        return {"iterations": self.iterations, "final_grad": float(self.final_grad[k]),
                "converged": self.converged[k], "val_nll": float(self.nll[k])}


def fit_vector_scaling(
    logits: torch.Tensor, labels: torch.Tensor, *, init_temperature=None,
    grad_tol: float = GRAD_TOL, max_iter: int = 200, max_rounds: int = 3,
) -> VectorFit:
    """Fit z' = w ⊙ z + b (w, b: (K, C)) by minimising the NLL (Guo et al. 2017, vector scaling).

    Args:
        logits: ``(N, C)`` or ``(N, K, C)`` validation logits; labels ``(N,)``.
        init_temperature: scalar or ``(K,)``; start from w = 1/T (a temperature fit), b = 0.
    """
    z, y = _prepare(logits, labels)
    n, k, c = z.shape
    start = 1.0 if init_temperature is None else init_temperature
    w = (1.0 / _per_member(start, k, "init_temperature")).unsqueeze(1).repeat(1, c)
    w.requires_grad_(True)
    b = torch.zeros(k, c, dtype=torch.float64, requires_grad=True)
    targets = y.repeat_interleave(k)  # (N·K,) matches (N, K) flattened row-major

    def member_nll() -> torch.Tensor:
        scaled = (z * w + b).reshape(n * k, c)
        return F.cross_entropy(scaled, targets, reduction="none").view(n, k).mean(0)

    def closure():
        w.grad = b.grad = None
        loss = member_nll().sum()
        loss.backward()
        return loss

    iterations = 0
    for _ in range(max_rounds):
        opt = torch.optim.LBFGS(
            [w, b], lr=1.0, max_iter=max_iter, history_size=20, tolerance_grad=grad_tol * 0.1,
            tolerance_change=1e-18, line_search_fn="strong_wolfe",
        )
        opt.step(closure)
        iterations += int(opt.state[w]["n_iter"])
        closure()
        grad = torch.maximum(w.grad.abs().amax(1), b.grad.abs().amax(1))
        if float(grad.max()) < grad_tol:
            break
    with torch.no_grad():
        nll = member_nll()
    return VectorFit(weight=w.detach(), bias=b.detach(), iterations=iterations,
                     final_grad=grad.detach(), nll=nll, grad_tol=grad_tol)


def _banked_view(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, bool]:
    """``logits`` as (N, K', C) plus whether it was banked; an (N, C) input needs K = 1."""
    if logits.dim() == 2:
        if k != 1:
            raise ValueError(f"a scaler fitted on {k} members needs banked logits (N, {k}, C)")
        return logits.unsqueeze(1), False
    if logits.dim() != 3 or (k != 1 and logits.shape[1] != k):
        raise ValueError(f"logits must be (N, C) or (N, {k}, C), got {tuple(logits.shape)}")
    return logits, True


class _Scaler:
    """Shared JSON persistence. Subclasses define ``kind``, ``_state()`` and ``_from_state``."""

    kind = ""

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": FORMAT_VERSION, "kind": self.kind, **self._state()}

    def save(self, path: str | Path) -> Path:
        """Write the scaler as JSON, atomically (temporary file renamed into place)."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=1)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def from_dict(cls, data: dict):
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"not a {FORMAT} file (missing or wrong 'format')")
        if data.get("kind") != cls.kind:
            raise DataError(f"scaler kind is {data.get('kind')!r}, expected {cls.kind!r}")
        try:
            return cls._from_state(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"malformed {cls.kind} scaler: {exc}") from None

    @classmethod
    def load(cls, path: str | Path):
        return cls.from_dict(_read_json(path))

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return self.apply(logits)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such scaler file: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read scaler file {path}: {exc}") from None


def _positive_vector(values, name: str) -> torch.Tensor:
    t = torch.tensor(values, dtype=torch.float64).reshape(-1)
    if t.numel() == 0 or not bool(torch.isfinite(t).all() and (t > 0).all()):
        raise ValueError(f"{name} must be a non-empty list of finite values > 0")
    return t


class TemperatureScaler(_Scaler):
    """Temperature scaling: ``apply(z) = z / T`` with one T per member (K,).

    ``TemperatureScaler().fit(val_logits, val_labels)`` fits T (see :func:`fit_temperature`;
    ``result`` keeps the diagnostics); ``TemperatureScaler(temperature=[1.5])`` wraps a known T.
    """

    kind = "temperature"

    def __init__(self, temperature=None, *, lower=DEFAULT_LOWER, upper=DEFAULT_UPPER,
                 grad_tol: float = GRAD_TOL, max_iter: int = 100):
        self.temperature = (None if temperature is None
                            else _positive_vector(temperature, "temperature"))
        self.lower, self.upper = lower, upper
        self.grad_tol, self.max_iter = grad_tol, max_iter
        self.result: TemperatureFit | None = None

    def fit(self, logits: torch.Tensor, labels: torch.Tensor) -> TemperatureScaler:
        self.result = fit_temperature(logits, labels, lower=self.lower, upper=self.upper,
                                      grad_tol=self.grad_tol, max_iter=self.max_iter)
        self.temperature = self.result.temperature
        return self

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """z / T for logits (N, C) (K = 1) or (N, K, C); float16/bfloat16 come back float32."""
        if self.temperature is None:
            raise RuntimeError("TemperatureScaler is not fitted")
        z, banked = _banked_view(logits, self.temperature.shape[0])
        z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
        out = z / self.temperature.to(device=z.device, dtype=z.dtype).view(1, -1, 1)
        return out if banked else out.squeeze(1)

    def _state(self) -> dict:
        if self.temperature is None:
            raise RuntimeError("TemperatureScaler is not fitted")
        state = {"temperature": self.temperature.tolist()}
        if self.result is not None:
            k = self.temperature.shape[0]
            state["fit"] = [self.result.member_info(m) for m in range(k)]
        return state

    @classmethod
    def _from_state(cls, data: dict) -> TemperatureScaler:
        return cls(temperature=data["temperature"])


class VectorScaler(_Scaler):
    """Vector scaling: ``apply(z) = w ⊙ z + b`` with w, b (K, C). ``fit`` starts from a
    temperature fit (w = 1/T) unless ``init_temperature`` is given."""

    kind = "vector"

    def __init__(self, weight=None, bias=None, *, grad_tol: float = GRAD_TOL,
                 max_iter: int = 200):
        self.weight = None if weight is None else torch.as_tensor(weight, dtype=torch.float64)
        self.bias = None if bias is None else torch.as_tensor(bias, dtype=torch.float64)
        self.grad_tol, self.max_iter = grad_tol, max_iter
        self.result: VectorFit | None = None

    def fit(self, logits: torch.Tensor, labels: torch.Tensor, *,
            init_temperature=None) -> VectorScaler:
        if init_temperature is None:
            init_temperature = fit_temperature(logits, labels).temperature
        self.result = fit_vector_scaling(logits, labels, init_temperature=init_temperature,
                                         grad_tol=self.grad_tol, max_iter=self.max_iter)
        self.weight, self.bias = self.result.weight, self.result.bias
        return self

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """w ⊙ z + b for logits (N, C) (K = 1) or (N, K, C)."""
        if self.weight is None:
            raise RuntimeError("VectorScaler is not fitted")
        z, banked = _banked_view(logits, self.weight.shape[0])
        z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
        w = self.weight.to(device=z.device, dtype=z.dtype)
        out = z * w + self.bias.to(device=z.device, dtype=z.dtype)
        return out if banked else out.squeeze(1)

    def _state(self) -> dict:
        if self.weight is None:
            raise RuntimeError("VectorScaler is not fitted")
        return {"weight": self.weight.tolist(), "bias": self.bias.tolist()}

    @classmethod
    def _from_state(cls, data: dict) -> VectorScaler:
        w = torch.tensor(data["weight"], dtype=torch.float64)
        b = torch.tensor(data["bias"], dtype=torch.float64)
        if w.dim() != 2 or w.shape != b.shape:
            raise ValueError("weight and bias must both be (K, C)")
        if not bool(torch.isfinite(w).all() and torch.isfinite(b).all()):
            raise ValueError("weight and bias must be finite")
        return cls(weight=w, bias=b)


def load_scaler(source: str | Path | dict) -> TemperatureScaler | VectorScaler:
    """A saved scaler of either kind, from a JSON file path or a dict."""
    data = source if isinstance(source, dict) else _read_json(source)
    kinds = {TemperatureScaler.kind: TemperatureScaler, VectorScaler.kind: VectorScaler}
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in kinds:
        raise DataError(f"unknown scaler kind {kind!r}; known: {', '.join(kinds)}")
    return kinds[kind].from_dict(data)


def is_finite_member(logits: torch.Tensor) -> torch.Tensor:
    """(K,) bool: member k's logits (N, K, C) are all finite (diverged members are not)."""
    return torch.isfinite(logits).all(-1).all(0)


__all__ = [
    "DEFAULT_LOWER", "DEFAULT_UPPER", "GRAD_TOL", "ProbabilityInputWarning", "TemperatureFit",
    "TemperatureScaler", "VectorFit", "VectorScaler", "fit_temperature", "fit_vector_scaling",
    "is_finite_member", "load_scaler", "looks_like_probabilities",
]
