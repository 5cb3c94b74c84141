"""Banked model families; importing this package registers them."""

from ..registry import register
from . import families, text_families  # noqa: F401  resnets, wrn, vit; bow, gru, transformer
from .base import BankModel
from .cnn import BankCNN
from .mlp import BankMLP

register("model", "mlp")(BankMLP)
register("model", "cnn")(BankCNN)

__all__ = ["BankModel", "BankCNN", "BankMLP"]
