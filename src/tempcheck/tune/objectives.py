"""What a tune ranks members on, measured on the validation split (never the test split).

Every objective is turned into a higher-is-better score so one ranking rule serves them all:

- ``val_acc`` (default): validation accuracy;
- ``val_nll``: validation NLL of each member's own predictive distribution softmax(z/τ);
- ``ece_ts``: validation ECE after temperature scaling (fitted on the same validation logits);
- ``robust_acc``: worst-case robust accuracy of the adversarial evaluation on ``sample``
  validation images (at rungs only: attacks are expensive);
- ``corr_acc``: mean accuracy over the corruption evaluation on ``sample`` validation images
  (at rungs only);
- ``weighted``: Σ w·score over named objectives, e.g. ``val_acc=1,ece_ts=0.5`` (each term is
  the higher-is-better score above, so a positive weight on ``ece_ts`` rewards low ECE).

The tie-breaker (``secondary``) is always the validation NLL after temperature scaling: it is
continuous where accuracy ties on a small validation set, and, unlike the raw NLL, does not
penalise a member for the over- or under-confidence its τ gives it (post-hoc scaling removes it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .. import metrics
from ..data.base import DatasetSplits
from ..errors import ConfigError
from ..eval.base import EvalContext, predict
from ..softmax import scale_logits

# name -> (sign making it higher-is-better, measured every epoch?)
OBJECTIVES = {
    "val_acc": (1.0, True), "val_nll": (-1.0, True), "ece_ts": (-1.0, True),
    "robust_acc": (1.0, False), "corr_acc": (1.0, False),
}
NAMES = (*OBJECTIVES, "weighted")


def parse_weights(spec: str | dict | None) -> dict[str, float]:
    """``"val_acc=1,ece_ts=0.5"`` (or a mapping) → {objective: weight}; names checked."""
    if not spec:
        raise ConfigError("objective 'weighted' needs --weights, e.g. val_acc=1,ece_ts=0.5")
    items = spec.items() if isinstance(spec, dict) else (
        part.split("=", 1) if "=" in part else (part, "") for part in spec.split(","))
    weights = {}
    for name, value in items:
        name = str(name).strip()
        if name not in OBJECTIVES:
            raise ConfigError(f"unknown objective {name!r} in --weights; known: "
                              f"{', '.join(OBJECTIVES)}")
        try:
            weights[name] = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"weight of {name} must be a number, got {value!r}") from None
    return weights


def check_objective(name: str, weights: dict[str, float] | None) -> dict[str, float]:
    """The objective's terms {name: weight}; an unknown name is a ConfigError."""
    if name not in NAMES:
        raise ConfigError(f"unknown tune objective {name!r}; known: {', '.join(NAMES)}")
    if name == "weighted":
        return parse_weights(weights)
    return {name: 1.0}


def epoch_scores(model: torch.nn.Module, data: DatasetSplits, taus: torch.Tensor, *,
                 batch_size: int, device: torch.device) -> dict[str, np.ndarray]:
    """The cheap per-epoch measures of every member on the validation split: raw values
    ``val_acc``, ``val_nll``, ``ece_ts`` and ``nll_ts`` (each ``(K,)``)."""
    from ..eval.scaling import fit_temperature

    z = predict(model, data.val.x, batch_size=batch_size, device=device).double()  # (N, K, C)
    y = data.val.y.to(z.device)
    fitted = fit_temperature(z, y)
    z_ts = z / fitted.temperature.to(z).view(1, -1, 1)
    return {
        "val_acc": metrics.accuracy(z, y).cpu().numpy(),
        "val_nll": metrics.nll(scale_logits(z, taus.to(z)), y).cpu().numpy(),
        "ece_ts": metrics.ece(z_ts, y).cpu().numpy(),
        "nll_ts": fitted.nll.cpu().numpy(),
    }


def rung_scores(names: list[str], model: torch.nn.Module, data: DatasetSplits,
                taus: torch.Tensor, *, sample: int, seed: int, batch_size: int,
                device: torch.device) -> dict[str, np.ndarray]:
    """The expensive measures (``robust_acc``, ``corr_acc``) asked for, on ``sample``
    validation images, by running the sweep's own evaluations with the validation split in the
    place of the test split."""
    from ..evaluations import run_function, select

    out = {}
    g = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(len(data.val), generator=g)[: max(1, sample)]
    val = dataclasses.replace(data.val, x=data.val.x[idx], y=data.val.y[idx])
    as_test = dataclasses.replace(data, test=val)
    wanted = {"robust_acc": ("adversarial", {"n_examples": len(idx)}, "robust_acc_worst"),
              "corr_acc": ("corruption", {"n_images": len(idx)}, "corr_acc_mean")}
    for name in names:
        if name not in wanted:
            continue
        evaluation, options, column = wanted[name]
        ctx = EvalContext(model=model, data=as_test, temperatures=taus, device=device,
                          seed=seed, batch_size=batch_size, options=options)
        result = run_function(select([evaluation])[0])(ctx)
        out[name] = np.asarray(result.columns[column], dtype=float)
    return out


def combine(terms: dict[str, float], raw: dict[str, np.ndarray]) -> np.ndarray:
    """Higher-is-better objective ``(K,)`` from raw measures; NaN where a term is missing."""
    total = None
    for name, w in terms.items():
        if name not in raw:
            return np.full(len(next(iter(raw.values()))), np.nan)
        part = w * OBJECTIVES[name][0] * np.asarray(raw[name], dtype=float)
        total = part if total is None else total + part
    return total
