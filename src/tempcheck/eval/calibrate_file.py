"""Temperature scaling for any model's saved logits (the library under ``tempcheck calibrate``,
whose command — printing, ``--json``, ``--png`` — is ``tempcheck.app.calibrate``).

Input, loaded with ``np.load(..., allow_pickle=False)`` (a file that needs pickle is refused):

- an ``.npz`` with arrays ``logits`` (N, C) and ``labels`` (N,), and optionally ``val_logits``
  (M, C) and ``val_labels`` (M,) to fit on; or
- an ``.npy`` logits file (N, C) with its labels in a separate ``.npy`` (``labels_path``).

T is fitted on the validation arrays when given (``fit_on = "val"``); otherwise on a seeded
random half of the samples and judged on the other half (``fit_on = "half"``). Every problem with
the input (missing file or array, unreadable file, wrong shape, NaN/inf logits, labels not
integers or out of range, mismatched lengths) is a :class:`DataError` with a one-line message.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from .. import metrics
from ..errors import DataError, TempcheckError
from .scaling import fit_temperature


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read(path: Path, what: str):
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {what} file {path}: {_one_line(exc)}") from None


def _logits(name: str, a: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.floating)
                               or np.issubdtype(a.dtype, np.integer)):
        raise DataError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if a.ndim != 2:
        raise DataError(f"{name} must be 2-D (N, C), got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 2:
        raise DataError(f"{name} needs N ≥ 1 samples and C ≥ 2 classes, got shape {a.shape}")
    if n_classes is not None and a.shape[1] != n_classes:
        raise DataError(f"{name} has {a.shape[1]} classes but logits have {n_classes}")
    a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataError(f"{name} contains NaN or inf ({int(bad.sum())} values, first in row {row})")
    return a


def _labels(name: str, a: np.ndarray, n: int, n_classes: int, logits_name: str) -> np.ndarray:
    if a.ndim != 1:
        raise DataError(f"{name} must be 1-D (N,), got shape {a.shape}")
    if a.shape[0] != n:
        raise DataError(f"{name} has {a.shape[0]} entries but {logits_name} has {n} rows")
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or not (a == np.round(a)).all():
            raise DataError(f"{name} must be integers, got non-integer values")
    elif a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"{name} must be integers, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.min() < 0 or a.max() >= n_classes:
        raise DataError(f"{name} must lie in [0, {n_classes - 1}] for {n_classes} classes, "
                        f"got values in [{a.min()}, {a.max()}]")
    return a


def load_logits_file(path: str | Path, *, labels_path: str | Path | None = None) -> dict:
    """Read and validate a logits file; returns ``logits`` (N, C) float64, ``labels`` (N,)
    int64 and, when present, ``val_logits`` / ``val_labels``, as numpy arrays."""
    path = Path(path)
    data = _read(path, "logits")
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if labels_path is not None:
                raise DataError(f"{path} is an .npz: its labels come from its 'labels' array; "
                                "drop the separate labels file")
            try:
                arrays = {key: data[key] for key in data.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise DataError(f"cannot read {path}: {_one_line(exc)}") from None
        for key in ("logits", "labels"):
            if key not in arrays:
                raise DataError(f"{path} has no '{key}' array (found: "
                                f"{', '.join(sorted(arrays)) or 'none'})")
        if ("val_logits" in arrays) != ("val_labels" in arrays):
            raise DataError(f"{path} needs both 'val_logits' and 'val_labels', or neither")
    else:
        if labels_path is None:
            raise DataError(f"{path} holds logits only: give the labels file (.npy) as well")
        labels = _read(Path(labels_path), "labels")
        if not isinstance(labels, np.ndarray):
            raise DataError(f"labels file {labels_path} must be an .npy array, not an .npz")
        arrays = {"logits": data, "labels": labels}
    out = {"logits": _logits("logits", arrays["logits"])}
    n, c = out["logits"].shape
    out["labels"] = _labels("labels", arrays["labels"], n, c, "logits")
    if "val_logits" in arrays:
        out["val_logits"] = _logits("val_logits", arrays["val_logits"], c)
        out["val_labels"] = _labels("val_labels", arrays["val_labels"],
                                    out["val_logits"].shape[0], c, "val_logits")
    return out


def calibrate_file(
    path: str | Path, *, labels_path: str | Path | None = None, seed: int = 0, n_bins: int = 15,
    reliability: bool = False,
) -> dict:
    """Fit temperature scaling to a logits file and score it before and after.

    Args:
        path: ``.npz`` or ``.npy`` logits file (module docstring); ``labels_path`` for ``.npy``.
        seed: seeds the random half used for fitting when there are no validation arrays.
        n_bins: bins of ECE and adaptive ECE.
        reliability: also return ``reliability``: ``{"before": bins, "after": bins}``
            (:func:`tempcheck.metrics.reliability_bins` of the evaluation samples), for a
            reliability diagram.

    Returns:
        JSON-ready dict: ``temperature, nll_before, nll_after, ece_before, ece_after,
        adaptive_ece_before, adaptive_ece_after, brier_before, brier_after, accuracy, n_fit,
        n_eval, fit_on`` ("val" | "half"), ``n_classes, n_bins, bound_hit, iterations,
        final_grad, warnings`` (list of str). Metrics are on the
        evaluation samples: the whole file with validation arrays, else the other half.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise TempcheckError(f"n_bins must be an integer ≥ 1, got {n_bins!r}")
    arrays = load_logits_file(path, labels_path=labels_path)
    z, y = torch.from_numpy(arrays["logits"]), torch.from_numpy(arrays["labels"])
    if "val_logits" in arrays:
        z_fit = torch.from_numpy(arrays["val_logits"])
        y_fit = torch.from_numpy(arrays["val_labels"])
        z_eval, y_eval, fit_on = z, y, "val"
    else:
        if z.shape[0] < 2:
            raise DataError(f"{path} has {z.shape[0]} sample; splitting in halves needs ≥ 2")
        perm = torch.from_numpy(np.random.default_rng(seed).permutation(z.shape[0]))
        half = z.shape[0] // 2
        z_fit, y_fit = z[perm[:half]], y[perm[:half]]
        z_eval, y_eval, fit_on = z[perm[half:]], y[perm[half:]], "half"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_temperature(z_fit, y_fit)
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    t = float(fit.temperature[0])
    z_after = z_eval / t
    result = {
        "temperature": t,
        "nll_before": metrics.nll(z_eval, y_eval), "nll_after": metrics.nll(z_after, y_eval),
        "ece_before": metrics.ece(z_eval, y_eval, n_bins),
        "ece_after": metrics.ece(z_after, y_eval, n_bins),
        "adaptive_ece_before": metrics.adaptive_ece(z_eval, y_eval, n_bins),
        "adaptive_ece_after": metrics.adaptive_ece(z_after, y_eval, n_bins),
        "brier_before": metrics.brier(z_eval, y_eval),
        "brier_after": metrics.brier(z_after, y_eval),
        "accuracy": metrics.accuracy(z_eval, y_eval),
        "n_fit": int(z_fit.shape[0]), "n_eval": int(z_eval.shape[0]), "fit_on": fit_on,
        "n_classes": int(z.shape[1]), "n_bins": n_bins, "bound_hit": fit.bound_hit[0],
        "iterations": fit.iterations[0], "final_grad": float(fit.final_grad[0]),
        "warnings": [str(w.message) for w in caught],
    }
    if reliability:
        result["reliability"] = {"before": metrics.reliability_bins(z_eval, y_eval, n_bins),
                                 "after": metrics.reliability_bins(z_after, y_eval, n_bins)}
    return result
