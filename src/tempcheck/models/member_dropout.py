"""Dropout whose masks are a function of (member seed, step key, call, element): counter-based.

Under ``torch.func.vmap`` a random draw from the global generator cannot give member k the
mask a standalone model with member k's seed would draw (the bank draws one (K, ...) tensor,
the standalone model a (1, ...) one). So :class:`~.functional_bank.FunctionalBank` swaps every
``nn.Dropout`` of the user's module for :class:`MemberDropout`, whose mask is computed from a
per-member integer key with a stateless hash (the SplitMix64 finaliser of Steele, Lea & Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014). The key of member k depends on
its seed and on one step key per forward drawn from the global generator (which ``fit`` seeds
per epoch), never on K or on k's position: member k of any bank draws exactly the masks of the
K = 1 bank with its seed, and members draw independent masks.
"""

from __future__ import annotations

import torch
from torch import nn

_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """A 64-bit pattern as the int64 torch stores it."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MUL1 = _signed(0xBF58476D1CE4E5B9)
_MUL2 = _signed(0x94D049BB133111EB)


def _shift_right(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """The SplitMix64 finaliser on int64 tensors (multiplication wraps modulo 2^64)."""
    z = (z ^ _shift_right(z, 30)) * _MUL1
    z = (z ^ _shift_right(z, 27)) * _MUL2
    return z ^ _shift_right(z, 31)


def uniform_from_key(key: torch.Tensor, shape: tuple[int, ...], device) -> torch.Tensor:
    """``shape`` float32 uniforms in [0, 1) from an int64 scalar ``key`` (24 random bits each,
    exact in float32): element i is ``mix64(key + (i + 1) · golden) >> 40``."""
    idx = torch.arange(1, 1 + int(torch.Size(shape).numel()), device=device, dtype=torch.int64)
    bits = _shift_right(mix64(key + idx.view(shape) * _GOLDEN), 40)
    return bits.to(torch.float32) * (1.0 / (1 << 24))


def member_keys(step_key: int, seeds: torch.Tensor) -> torch.Tensor:
    """``(K,)`` int64 keys, one per member, from the step key and the members' seeds."""
    seeds = seeds.to(torch.int64)
    return mix64(mix64(seeds * _GOLDEN + 1) ^ _signed(step_key))


class MemberDropout(nn.Module):
    """Stands in for ``original`` (an ``nn.Dropout`` / ``Dropout1d/2d/3d``) inside a functional
    bank. ``forward`` runs once per member under vmap and reads that member's key from
    ``state`` (set by the bank before each forward); ``channelwise`` zeroes whole channels
    (the ``Dropout1d/2d/3d`` behaviour) instead of single elements. Masks are scaled by
    1 / (1 − p) like ``F.dropout``."""

    def __init__(self, original: nn.Module, state: dict, index: int):
        super().__init__()
        self.p = float(original.p)
        self.channelwise = isinstance(original, (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d))
        self.index = index
        # not submodules: the bank owns them (the original comes back on member extraction)
        self._original = [original]
        self._state = state

    @property
    def original(self) -> nn.Module:
        return self._original[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p >= 1.0:
            return torch.zeros_like(x)
        calls = self._state.setdefault("calls", {})
        call = calls.get(self.index, 0)
        calls[self.index] = call + 1
        key = mix64(self._state["key"] + _signed((self.index + 1) * 0x632BE59BD9B4E019 + call))
        # (N, C, 1, ...) for channel dropout of an (N, C, ...) input, else the input's shape
        shape = tuple(x.shape[:2]) + (1,) * (x.dim() - 2) if self.channelwise else tuple(x.shape)
        keep = uniform_from_key(key, shape, x.device) >= self.p
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}, channelwise={self.channelwise}"


DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
