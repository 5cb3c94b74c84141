"""``clean``: accuracy, NLL, ECE and Brier of every member on the clean test split.

Probabilities are each member's own predictive distribution softmax(z / τ_k): a model trained
at τ predicts with that temperature, so its NLL and calibration are measured there (the raw
logits' calibration is what post-hoc scaling in ``calibration`` starts from).
"""

from __future__ import annotations

from .. import metrics
from .base import EvalContext, EvalResult, Evaluation, cached_logits, tempered_logits


def run(ctx: EvalContext) -> EvalResult:
    """results.csv columns ``test_acc, test_nll, test_ece, test_brier, val_acc,
    test_logit_norm``; arrays ``test_confidence`` (N, K) max-probability per test sample."""
    y_test, y_val = ctx.data.test.y, ctx.data.val.y
    z_test = tempered_logits(ctx, "test")  # (N, K, C), z / τ_k
    z_val = cached_logits(ctx, "val")
    s = metrics.summary(z_test, y_test)
    columns = {f"test_{k}": v.tolist() for k, v in s.items()}
    columns["val_acc"] = metrics.accuracy(z_val, y_val).tolist()
    columns["test_logit_norm"] = metrics.mean_logit_norm(cached_logits(ctx, "test")).tolist()
    conf = z_test.softmax(-1).max(-1).values.numpy()
    return EvalResult(columns=columns, arrays={"test_confidence": conf},
                      info={"n_test": int(y_test.shape[0]), "n_val": int(y_val.shape[0])})


EVALUATION = Evaluation(
    name="clean", order=0, summary="test accuracy, NLL, ECE, Brier",
    options=None,
    columns=("test_acc", "test_nll", "test_ece", "test_brier", "val_acc", "test_logit_norm"),
)
