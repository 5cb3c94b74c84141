"""Scaler objects: fitted post-hoc maps of logits that can be applied, saved and loaded.

- :class:`TemperatureScaler`: ``z / T`` with one T per member (``temperature_fit.py``).
- :class:`VectorScaler`: ``w ⊙ z + b`` with a per-class scale and bias per member
  (``vector_fit.py``).

Both take logits ``(N, C)`` (K = 1) or banked ``(N, K, C)``, save to / load from JSON
(``save(path)`` / ``load(path)``, or ``to_dict`` / ``from_dict``; :func:`load_scaler` reads
either kind).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from ...errors import DataError
from .inputs import GRAD_TOL
from .temperature_fit import DEFAULT_LOWER, DEFAULT_UPPER, TemperatureFit, fit_temperature
from .vector_fit import DEFAULT_PRIOR_SD, VectorFit, fit_vector_scaling

FORMAT = "tempcheck.scaler"
FORMAT_VERSION = 1


def _banked_view(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, bool]:
    """``logits`` as (N, K', C) plus whether it was banked; an (N, C) input needs K = 1.
    float16 / bfloat16 come back float32 (a scaler's output is not worth rounding twice)."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
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
    temperature fit (w = 1/T) unless ``init_temperature`` is given, and is regularised toward
    it with N(0, ``prior_sd``²) priors (see :func:`fit_vector_scaling`)."""

    kind = "vector"

    def __init__(self, weight=None, bias=None, *, prior_sd: float = DEFAULT_PRIOR_SD,
                 grad_tol: float = GRAD_TOL, max_iter: int = 200):
        self.weight = None if weight is None else torch.as_tensor(weight, dtype=torch.float64)
        self.bias = None if bias is None else torch.as_tensor(bias, dtype=torch.float64)
        self.prior_sd, self.grad_tol, self.max_iter = prior_sd, grad_tol, max_iter
        self.result: VectorFit | None = None

    def fit(self, logits: torch.Tensor, labels: torch.Tensor, *,
            init_temperature=None) -> VectorScaler:
        self.result = fit_vector_scaling(logits, labels, init_temperature=init_temperature,
                                         prior_sd=self.prior_sd, grad_tol=self.grad_tol,
                                         max_iter=self.max_iter)
        self.weight, self.bias = self.result.weight, self.result.bias
        return self

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """w ⊙ z + b for logits (N, C) (K = 1) or (N, K, C)."""
        if self.weight is None:
            raise RuntimeError("VectorScaler is not fitted")
        z, banked = _banked_view(logits, self.weight.shape[0])
        w = self.weight.to(device=z.device, dtype=z.dtype)
        out = z * w + self.bias.to(device=z.device, dtype=z.dtype)
        return out if banked else out.squeeze(1)

    def _state(self) -> dict:
        if self.weight is None:
            raise RuntimeError("VectorScaler is not fitted")
        state = {"weight": self.weight.tolist(), "bias": self.bias.tolist()}
        if self.result is not None:
            state["fit"] = [self.result.member_info(m) for m in range(self.weight.shape[0])]
        return state

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
