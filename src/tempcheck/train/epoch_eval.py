"""The evaluation ``fit`` runs at the end of an evaluation epoch (``FitOptions.eval_every``).

Accuracy and NLL on the validation and test splits (the NLL of each member's own predictive
distribution softmax(z / τ_k)), the mean logit norm ‖z‖ and ‖z/τ‖ on up to ``batch_size``
validation inputs, and whatever an ``epoch_probe`` measures on those inputs. The model is put
in eval mode for it and its mode is restored.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import metrics
from ..data.base import DatasetSplits, Split, as_float
from ..softmax import scale_logits
from .status import finite_or_none

EpochProbe = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict]


@torch.no_grad()
def evaluate_split(model, split: Split, batch_size: int, autocast,
                   tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(accuracy (K,), NLL (K,)) of a split in eval mode; the NLL is that of the member's own
    predictive distribution softmax(z / τ_k)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    logits = []
    for lo in range(0, len(split), batch_size):
        with autocast():
            logits.append(model(as_float(split.x[lo : lo + batch_size].to(device))).float())
    model.train(was)
    z = torch.cat(logits)
    y = split.y.to(z.device)
    return metrics.accuracy(z, y).cpu(), metrics.nll(scale_logits(z, tau), y).cpu()


@torch.no_grad()
def epoch_evaluation(model, data: DatasetSplits, *, batch_size: int, autocast, tau: torch.Tensor,
                     epoch_probe: EpochProbe | None = None) -> dict:
    """The evaluation part of an epoch record: ``val_acc, val_nll, test_acc, test_nll,
    logit_norm, beta_logit_norm`` (lists over members) and the probe's values."""
    val_acc, val_nll = evaluate_split(model, data.val, batch_size, autocast, tau)
    test_acc, test_nll = evaluate_split(model, data.test, batch_size, autocast, tau)
    record: dict = {}
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    probe = as_float(data.val.x[:batch_size].to(device))
    with autocast():
        z = model(probe).float()
    norm = metrics.mean_logit_norm(z).cpu()
    if epoch_probe is not None:
        y_probe = data.val.y[:batch_size].to(z.device)
        record.update(epoch_probe(z, y_probe, tau))
    beta_norm = metrics.mean_logit_norm(scale_logits(z, tau)).cpu()
    model.train(was)
    record.update(val_acc=finite_or_none(val_acc), val_nll=finite_or_none(val_nll),
                  test_acc=finite_or_none(test_acc), test_nll=finite_or_none(test_nll),
                  logit_norm=finite_or_none(norm), beta_logit_norm=finite_or_none(beta_norm))
    return record
