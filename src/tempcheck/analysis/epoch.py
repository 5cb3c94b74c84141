"""Per-epoch analysis statistics for the training log ("through training, at chosen epochs").

:func:`epoch_statistics` is meant to be handed to the training loop as a probe callback (the
loop sits below ``analysis/`` and must not import it): given the logits of a fixed probe batch,
its labels and the members' current temperatures, it returns per-member means keyed like the
results.csv columns, ready to merge into a metrics.jsonl record. The report's gradient and logit
sections plot these keys as curves when present.
"""

from __future__ import annotations

import math

import torch

from .gradients import gradient_balance_means
from .logits import logit_summary


def epoch_statistics(logits: torch.Tensor, labels: torch.Tensor, temperatures
                     ) -> dict[str, list[float]]:
    """Gradient balance and logit statistics of a probe batch, per member.

    Args:
        logits: ``(B, K, C)`` raw logits of the probe batch (eval mode); labels ``(B,)``;
            temperatures: ``(K,)`` (or scalar) current training temperatures.

    Returns:
        {"grad_q_entropy", "grad_eff_negatives", "grad_max_q", "grad_hardest_share",
        "grad_step_factor", "logit_norm_mean", "logit_margin_mean", "logit_margin_tau_mean",
        "softmax_entropy_mean"} → K values each; None (JSON null, as ``fit`` writes for a
        diverged member) where a member's logits are not finite.
    """
    z = logits.detach().float().cpu()
    y = labels.detach().cpu()
    tau = torch.as_tensor(temperatures).detach().double().cpu()
    stats = {**gradient_balance_means(z, y, tau), **logit_summary(z, y, tau)}
    return {k: [v if math.isfinite(v) else None for v in values] for k, values in stats.items()}
