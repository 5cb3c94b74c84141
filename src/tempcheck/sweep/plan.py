"""Plan a sweep: a grid of temperatures × seeds × learning rates, fused into groups (banks).

Members that share a data seed can share a bank (they must see the same batches), so the default
is one group per seed holding every temperature and learning rate; ``max_bank`` splits a group
into banks of at most that many members (1 trains every member alone). ``max_bank = "auto"``
is resolved for the device by ``bank_size.plan_bank_size`` and passed in as ``bank_size``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..config import Config
from ..train.loop import coupled_learning_rates


@dataclass(frozen=True)
class Member:
    """One trained model: its temperature, init seed, base and effective learning rates."""

    temperature: float
    seed: int
    base_lr: float
    lr: float  # η = η̃ · τ^a


@dataclass(frozen=True)
class Group:
    """One bank trained in one pass: ``name`` is its folder under ``groups/``."""

    name: str
    seed: int  # data seed (batch order, augmentation)
    members: tuple[Member, ...]

    def to_dict(self) -> dict:
        return {"name": self.name, "seed": self.seed, "members": [asdict(m) for m in self.members]}

    @classmethod
    def from_dict(cls, d: dict) -> Group:
        return cls(d["name"], int(d["seed"]), tuple(Member(**m) for m in d["members"]))


def plan_groups(config: Config, bank_size: int | None = None) -> list[Group]:
    """Groups for ``config.sweep``: temperatures × seeds × lrs, banks of ≤ ``max_bank``
    members; ``max_bank = "auto"`` uses ``bank_size`` (None: one bank per seed)."""
    sweep, train = config.sweep, config.train
    base_lrs = list(sweep.lrs) if sweep.lrs else [train.lr]
    groups = []
    for seed in sweep.seeds:
        members = []
        for base in base_lrs:
            lrs = coupled_learning_rates(base, sweep.temperatures, train.lr_temperature_exponent)
            for tau, lr in zip(sweep.temperatures, lrs.tolist()):
                members.append(Member(float(tau), int(seed), float(base), float(lr)))
        size = sweep.max_bank if isinstance(sweep.max_bank, int) else None
        if sweep.max_bank == "auto":
            size = bank_size
        size = size or len(members)
        if size < 1:
            from ..errors import ConfigError

            raise ConfigError(f"max_bank must be >= 1, got {size}")
        chunks = [members[i : i + size] for i in range(0, len(members), size)]
        for j, chunk in enumerate(chunks):
            name = f"seed{seed}" if len(chunks) == 1 else f"seed{seed}-bank{j}"
            groups.append(Group(name, int(seed), tuple(chunk)))
    return groups
