"""Banked model families; importing this package registers them."""

from ..registry import register, register_prefix
from . import families, text_families  # noqa: F401  resnets, wrn, vit; bow, gru, transformer
from .base import BankModel
from .cnn import BankCNN
from .mlp import BankMLP
from .python_model import PREFIX, python_model_constructor

register_prefix("model", PREFIX, python_model_constructor)

register("model", "mlp", inputs="image", tiny={"hidden": (8,)})(BankMLP)
register("model", "cnn", inputs="image", tiny={"widths": (4, 4, 4)})(BankCNN)

__all__ = ["BankModel", "BankCNN", "BankMLP"]
