"""Banked model families; importing this package registers them."""

from ..registry import register
from .base import BankModel
from .cnn import BankCNN
from .mlp import BankMLP

register("model", "mlp")(BankMLP)
register("model", "cnn")(BankCNN)

from . import families  # noqa: E402,F401  resnet18/50, wrn28_10/16_4, vit_small
from . import text_families  # noqa: E402,F401  bow, gru, text_transformer

__all__ = ["BankModel", "BankCNN", "BankMLP"]
