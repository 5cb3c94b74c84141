"""Registers the text classifiers by name (the lead imports this from :mod:`tempcheck.models`).

======================  ==========================================================================
name                    family (keywords: ``num_classes, vocab_size, max_len, pad_id, members,
                        seeds, head_init_scale`` plus the options below)
======================  ==========================================================================
``bow``                 :class:`~.bow.BankBoW`: mean embedding + MLP; ``embed_dim``, ``hidden``,
                        ``dropout``
``gru``                 :class:`~.gru.BankGRU`: banked GRU; ``embed_dim``, ``hidden_size``,
                        ``num_layers``, ``pool`` (last | mean), ``dropout``
``text_transformer``    :class:`~.text_transformer.BankTextTransformer`: pre-norm encoder, mean
                        pool; ``dim``, ``depth``, ``heads``, ``mlp_ratio``, ``dropout``
======================  ==========================================================================

Inputs are token ids ``(B, L)`` int64 shared by the bank (or ``(B, K, L)``), as produced by the
text datasets (``data/text.py``), whose ``extra["model_kwargs"]`` supplies ``vocab_size``,
``max_len`` and ``pad_id``.
"""

from __future__ import annotations

from ..registry import register
from .bow import BankBoW
from .gru import BankGRU
from .text_transformer import BankTextTransformer

TEXT_FAMILIES = {"bow": BankBoW, "gru": BankGRU, "text_transformer": BankTextTransformer}

# options of a seconds-sized instance of each family (the generic contract tests build them)
TINY = {
    "bow": {"embed_dim": 16, "hidden": (16,)},
    "gru": {"embed_dim": 8, "hidden_size": 12},
    "text_transformer": {"dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
}

for _name, _cls in TEXT_FAMILIES.items():
    register("model", _name, inputs="text", tiny=TINY[_name])(_cls)

__all__ = ["BankBoW", "BankGRU", "BankTextTransformer", "TEXT_FAMILIES"]
