"""Registers the papers' architectures by name (imported by :mod:`tempcheck.models`).

======================  ==========================================================================
name                    family (constructor: the keywords of ``BankCNN`` plus family options)
======================  ==========================================================================
``resnet18``            :class:`~.resnet.BankResNet`, basic blocks 2-2-2-2; ``width``, ``stem``
``resnet50``            :class:`~.resnet.BankResNet`, bottleneck blocks 3-4-6-3; ``width``, ``stem``
``wrn28_10``            :class:`~.wide_resnet.BankWideResNet` depth 28, k = 10; ``dropout``,
                        ``base_width`` (and ``depth`` / ``widen_factor`` to override)
``wrn16_4``             :class:`~.wide_resnet.BankWideResNet` depth 16, k = 4; as above
``vit_small``           :class:`~.vit.BankViT` dim 384, depth 12, 6 heads; ``patch_size``,
                        ``dim``, ``depth``, ``heads``, ``mlp_ratio``, ``pool``
======================  ==========================================================================
"""

from __future__ import annotations

from ..registry import register
from .resnet import BankResNet, resnet18, resnet50
from .vit import BankViT, vit_small
from .wide_resnet import BankWideResNet, wrn16_4, wrn28_10

FAMILIES = {
    "resnet18": resnet18,
    "resnet50": resnet50,
    "wrn28_10": wrn28_10,
    "wrn16_4": wrn16_4,
    "vit_small": vit_small,
}

# options of a seconds-sized instance of each family (the generic contract tests build them)
TINY = {
    "resnet18": {"width": 4},
    "resnet50": {"width": 2},
    "wrn28_10": {"widen_factor": 1, "base_width": 2},
    "wrn16_4": {"widen_factor": 1, "base_width": 4},
    "vit_small": {"dim": 16, "depth": 2, "heads": 2},
}

for _name, _factory in FAMILIES.items():
    register("model", _name, inputs="image", tiny=TINY[_name])(_factory)

__all__ = ["BankResNet", "BankViT", "BankWideResNet", "FAMILIES"]
