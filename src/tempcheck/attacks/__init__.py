"""Banked adversarial attacks (docs/theory.md §5): every member attacks its own copy in one pass.

Attacks need only a model callable and a loss, so evaluation (``eval.robustness``) and
adversarial training (``train.adversarial``) share them.
"""

from .apgd import APGD, APGDT, checkpoints
from .base import Attack, BestTracker, eval_mode, per_member, project, random_start
from .fgsm import FGSM
from .losses import LOSSES, attack_loss, dlr_loss, margin_loss
from .pgd import PGD
from .square import Square, p_schedule

__all__ = [
    "APGD", "APGDT", "Attack", "BestTracker", "FGSM", "LOSSES", "PGD", "Square", "attack_loss",
    "checkpoints", "dlr_loss", "eval_mode", "margin_loss", "p_schedule", "per_member", "project",
    "random_start",
]
