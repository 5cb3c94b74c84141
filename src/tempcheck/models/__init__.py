"""Banked model families; importing this package registers them."""

from ..registry import register
from . import families, text_families  # noqa: F401  resnets, wrn, vit; bow, gru, transformer
from .base import BankModel
from .cnn import BankCNN
from .mlp import BankMLP

register("model", "mlp", inputs="image", tiny={"hidden": (8,)})(BankMLP)
register("model", "cnn", inputs="image", tiny={"widths": (4, 4, 4)})(BankCNN)

__all__ = ["BankModel", "BankCNN", "BankMLP"]
