"""``--max-bank auto`` (the default): how many members one bank holds on this device.

Fusing K members pays when the fused kernels do K members' work in less than K times one
member's time. On a GPU that holds for the sizes tempcheck trains, so a bank holds every
member of a seed. On a CPU it holds only while a bank's activations stay inside the caches:
``bench/profile_bank.py`` shows the elementwise passes (BatchNorm, ReLU, pooling and their
gradients) of a bank whose maps have spilled out of them running at memory speed, so a K = 8
resnet18 (width 16, 32 px) was 1.5× slower than 8 runs. The rule, measured in
``bench/bank_vs_sequential.py`` on a 2-core EPYC (README, "Measured figures"):

- CPU, a family that chunks its own members on large maps (``member_chunk``, the cnn): one
  bank per seed — it is never slower than its members trained alone (28×28, K = 7, over 4,096
  images: ratio 1.00);
- CPU, any other family: banks of ``floor(CPU_BANK_FLOATS / a)`` members (at least 1;
  ``models/layers.py``), where ``a`` is the largest activation one member keeps for backward
  on a training batch, found by one forward pass of a K = 1 model (no timing, so the plan is
  the same when a sweep resumes);
- other devices: one bank per seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..config import Config
from ..data.base import DatasetSplits, as_float
from ..models.layers import CPU_BANK_FLOATS as BANK_FLOATS


@dataclass(frozen=True)
class BankPlan:
    """The bank size chosen for a sweep and why (recorded in ``sweep.json``)."""

    max_bank: int | None  # None: every member of a seed in one bank
    requested: str | int | None
    rule: str
    member_activation: int | None = None  # floats, largest per-member activation measured

    def to_dict(self) -> dict:
        return asdict(self)


def largest_member_activation(model: torch.nn.Module, batch: torch.Tensor) -> int:
    """Largest number of values in any tensor a training-mode forward of ``model`` (K = 1) on
    ``batch`` keeps for its backward pass: the activation maps the bank's elementwise passes
    walk over (any family, banked layers or not)."""
    sizes = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.train()(batch)
    return max(sizes)


def plan_bank_size(config: Config, data: DatasetSplits, device: torch.device) -> BankPlan:
    """Resolve ``config.sweep.max_bank`` (an integer, ``"all"`` or ``"auto"``) for ``device``."""
    requested = config.sweep.max_bank
    if requested in (None, "all"):
        return BankPlan(None, requested, "one bank per seed (requested)")
    if requested != "auto":
        return BankPlan(int(requested), requested, "requested")
    if device.type != "cpu":
        return BankPlan(None, requested, f"{device.type}: one bank per seed")
    from ..recipe import build_model

    probe = build_model(config, data, [0])
    if hasattr(probe, "member_chunk"):
        return BankPlan(None, requested, "cpu: the family chunks its own members on large "
                                         "maps; one bank per seed")
    batch = data.train.x[: config.train.batch_size]
    try:
        activation = largest_member_activation(probe, as_float(batch) if data.kind == "image"
                                               else batch)
    except RuntimeError as err:  # e.g. torch.func banks, which refuse saved-tensor hooks
        return BankPlan(None, requested, f"cpu: activation size not measurable ({err}); "
                                         "one bank per seed")
    size = max(1, BANK_FLOATS // max(1, activation))
    return BankPlan(size, requested, f"cpu: banks of at most {BANK_FLOATS} floats per "
                                     f"activation map ({activation} per member)", activation)
