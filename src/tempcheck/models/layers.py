"""Banked primitives: K independent members fused into single kernels.

Layout conventions (DESIGN.md):
- Every parameter and buffer of a member lives at index k of a leading K axis (e.g. a
  BankLinear weight is ``(K, in, out)``), so the optimiser, freezing and member extraction can
  treat any parameter generically as ``p[k]``.
- Convolutional activations travel as ``(B, K*C, H, W)``: member k owns channels
  ``[k*C, (k+1)*C)``. A grouped convolution with ``groups=K`` is then exactly K separate
  convolutions, and per-channel ops (BatchNorm, pooling) stay per member.
- Vector activations travel as ``(B, K, D)``.

Initialisation: each layer implements ``init_member(k, generator)`` drawing member k's
parameters from ``generator`` in a fixed order; a model calls it for every layer in module order
with one generator per member seeded with that member's seed. Member k of any bank is therefore
drawn exactly as a K = 1 model with the same seed would be (the bank-equivalence property).
Default init follows PyTorch's ``nn.Linear`` / ``nn.Conv2d``: U(−1/√fan_in, 1/√fan_in).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .member_dropout import member_keys

# How a BankConv2d with K > 1 runs (``BankConv2d.conv_mode``, set for a whole model with
# ``BankModel.set_conv_mode`` or the model option ``conv_mode``); the maths is the same:
# - "grouped": one grouped convolution (groups = K);
# - "loop": one dense convolution per member, the very kernels a standalone model runs;
# - "auto": "loop" on CPU for maps of 16×16 and more, where oneDNN's grouped kernels are
#   slower (bench/bank_vs_sequential.py), "grouped" otherwise and on CUDA.
CONV_MODES = ("auto", "grouped", "loop")

# On CPU, the most values one activation map of a bank should hold (4 MiB of float32: a few
# times a core's L2, well inside a shared L3). Above it the elementwise passes over the map
# (BatchNorm, ReLU, pooling and their gradients) run at memory speed and a bank becomes slower
# than its members run one by one (bench/profile_bank.py); the cnn's member chunks and
# ``--max-bank auto`` (sweep/bank_size.py) both keep banks under it.
CPU_BANK_FLOATS = 2**20


def check_conv_mode(mode: str) -> str:
    if mode not in CONV_MODES:
        raise ValueError(f"unknown conv_mode {mode!r}; known: {', '.join(CONV_MODES)}")
    return mode


def _loop_members(x: torch.Tensor, members: int, mode: str) -> bool:
    if members == 1 or mode == "grouped":
        return False
    if mode == "loop":
        return True
    return x.device.type == "cpu" and x.shape[-1] * x.shape[-2] >= 256


def _member_slice(t: torch.Tensor | None, lo: int, hi: int) -> torch.Tensor | None:
    """Members ``lo .. hi-1`` of a K-leading tensor (the tensor itself for all of them, so
    the whole-bank path adds no slicing to the autograd graph)."""
    if t is None or (lo == 0 and hi == t.shape[0]):
        return t
    return t[lo:hi]


class BankModule(nn.Module):
    """A layer holding K members; subclasses draw member k's parameters in ``init_member``."""

    members: int

    def init_member(self, k: int, generator: torch.Generator) -> None:  # pragma: no cover
        raise NotImplementedError


def _uniform_(t: torch.Tensor, bound: float, generator: torch.Generator) -> None:
    with torch.no_grad():
        sample = torch.rand(t.shape, generator=generator, dtype=torch.float32)
        t.copy_((sample * 2.0 - 1.0) * bound)


class BankLinear(BankModule):
    """K independent affine maps ``(B, K, in) -> (B, K, out)``; a shared input ``(B, in)`` is
    broadcast to every member with one matmul.

    Args:
        init_scale: multiplies member weights and biases after the default draw; on a
            classifier head this sets the initial logit norm ‖z₀‖ independently of β
            (docs/theory.md §3).
    """

    def __init__(
        self, in_features: int, out_features: int, *, members: int, bias: bool = True,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.init_scale = float(init_scale)
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(members, out_features)) if bias else None

    def init_member(self, k: int, generator: torch.Generator) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        _uniform_(self.weight[k], bound, generator)
        if self.bias is not None:
            _uniform_(self.bias[k], bound, generator)
        if self.init_scale != 1.0:
            with torch.no_grad():
                self.weight[k].mul_(self.init_scale)
                if self.bias is not None:
                    self.bias[k].mul_(self.init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # shared input (B, in): one matmul against (in, K*out)
            w = self.weight.permute(1, 0, 2).reshape(self.in_features, -1)
            out = (x @ w).view(x.shape[0], self.members, self.out_features)
        elif x.dim() == 3:  # (B, K, in) -> (K, B, in) @ (K, in, out) -> (B, K, out)
            out = torch.bmm(x.transpose(0, 1), self.weight).transpose(0, 1)
        else:
            raise ValueError(f"BankLinear expects (B, in) or (B, K, in), got {tuple(x.shape)}")
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, members={self.members}"


class BankConv2d(BankModule):
    """K independent 2-d convolutions fused as one grouped convolution.

    Input ``(B, K*in, H, W)`` (member-major channels) or, when ``shared_input`` is set, a
    shared ``(B, in, H, W)`` that every member sees (one dense convolution producing all K
    members' channels, cheaper than repeating the input K times). Output ``(B, K*out, H', W')``.
    Weight ``(K, out, in/groups, kh, kw)``. ``conv_mode``: how the K members' convolutions
    are run (``CONV_MODES``).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, members: int,
        stride: int = 1, padding: int = 0, groups: int = 1, bias: bool = True,
        shared_input: bool = False, conv_mode: str = "auto",
    ) -> None:
        super().__init__()
        self.conv_mode = check_conv_mode(conv_mode)
        if shared_input and groups != 1:
            raise ValueError("a shared-input convolution cannot also be grouped")
        self.members, self.in_channels, self.out_channels = members, in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.groups = kernel_size, stride, padding, groups
        self.shared_input = shared_input
        self.weight = nn.Parameter(
            torch.empty(members, out_channels, in_channels // groups, kernel_size, kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(members, out_channels)) if bias else None

    def init_member(self, k: int, generator: torch.Generator) -> None:
        fan_in = (self.in_channels // self.groups) * self.kernel_size**2
        bound = 1.0 / math.sqrt(fan_in)
        _uniform_(self.weight[k], bound, generator)
        if self.bias is not None:
            _uniform_(self.bias[k], bound, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_members(x, 0, self.members)

    def forward_members(self, x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """Members ``lo .. hi-1`` alone: input ``(B, n*in, H, W)`` (n = hi − lo) or the shared
        batch, output ``(B, n*out, H', W')`` — what a bank of those n members would compute."""
        n = hi - lo
        weight, bias = _member_slice(self.weight, lo, hi), _member_slice(self.bias, lo, hi)
        w = weight.reshape(-1, *weight.shape[2:])  # (n*out, in/g, kh, kw)
        b = bias.reshape(-1) if bias is not None else None
        expected = self.in_channels if self.shared_input else n * self.in_channels
        if x.shape[1] != expected:
            raise ValueError(
                f"BankConv2d expected {expected} input channels, got {tuple(x.shape)}"
            )
        if self.shared_input:
            return F.conv2d(x, w, b, self.stride, self.padding, 1, 1)
        if _loop_members(x, n, self.conv_mode):
            # one dense convolution per member (see CONV_MODES)
            xs = x.chunk(n, dim=1)
            ws = weight.unbind(0)
            bs = bias.unbind(0) if bias is not None else [None] * n
            return torch.cat([F.conv2d(xk, wk, bk, self.stride, self.padding, 1, self.groups)
                              for xk, wk, bk in zip(xs, ws, bs)], dim=1)
        return F.conv2d(x, w, b, self.stride, self.padding, 1, n * self.groups)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, s={self.stride}, "
            f"members={self.members}, shared_input={self.shared_input}"
        )


class BankBatchNorm2d(BankModule):
    """Per-member BatchNorm over ``(B, K*C, H, W)``: per-member affine parameters ``(K, C)`` and
    running statistics ``(K, C)``; batch statistics are per channel, hence per member."""

    def __init__(self, channels: int, *, members: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.members, self.channels, self.momentum, self.eps = members, channels, momentum, eps
        self.weight = nn.Parameter(torch.ones(members, channels))
        self.bias = nn.Parameter(torch.zeros(members, channels))
        self.register_buffer("running_mean", torch.zeros(members, channels))
        self.register_buffer("running_var", torch.ones(members, channels))

    def init_member(self, k: int, generator: torch.Generator) -> None:
        with torch.no_grad():
            self.weight[k].fill_(1.0)
            self.bias[k].zero_()
            self.running_mean[k].zero_()
            self.running_var[k].fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_members(x, 0, self.members)

    def forward_members(self, x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """Members ``lo .. hi-1`` alone on ``(B, n*C, H, W)``; their running statistics are
        updated in place (slices of the ``(K, C)`` buffers along K are contiguous views)."""
        return F.batch_norm(
            x, _member_slice(self.running_mean, lo, hi).view(-1),
            _member_slice(self.running_var, lo, hi).view(-1),
            _member_slice(self.weight, lo, hi).reshape(-1),
            _member_slice(self.bias, lo, hi).reshape(-1), self.training, self.momentum, self.eps,
        )


class BankLayerNorm(BankModule):
    """Per-member LayerNorm over the last axis of ``(B, K, ..., D)`` with ``(K, D)`` affine."""

    def __init__(self, dim: int, *, members: int, eps: float = 1e-5):
        super().__init__()
        self.members, self.dim, self.eps = members, dim, eps
        self.weight = nn.Parameter(torch.ones(members, dim))
        self.bias = nn.Parameter(torch.zeros(members, dim))

    def init_member(self, k: int, generator: torch.Generator) -> None:
        with torch.no_grad():
            self.weight[k].fill_(1.0)
            self.bias[k].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x, (self.dim,), eps=self.eps)
        shape = (self.members,) + (1,) * (x.dim() - 3) + (self.dim,)  # member axis is dim 1
        return y * self.weight.view(shape) + self.bias.view(shape)


class BankDropout(BankModule):
    """Dropout with per-member masks that do not depend on K or on the other members.

    Works on both activation layouts, ``(B, K, ...)`` and member-major channels
    ``(B, K*C, ...)``: member k owns the k-th contiguous block of each example, of shape
    ``rest`` (e.g. ``(C, H, W)`` or ``(L, D)``). In training mode each call draws one step key
    from torch's global generator (one integer, whatever K is; ``fit`` seeds that generator per
    epoch from the data seed, so a bank and its standalone twins see the same keys), and member
    k's keep-mask over its ``(B, *rest)`` block comes from its own generator, seeded with a
    hash of (step key, member seed). Member k of any bank therefore drops exactly the units a
    K = 1 model with the same seed drops. Kept units are scaled by 1 / (1 − p) (inverted
    dropout, as ``F.dropout``); eval mode and p = 0 are the identity and draw nothing, p = 1
    drops everything.

    The member seed is the seed of the generator ``init_member`` receives
    (``BankModel.reset_parameters`` seeds it with the member's seed); it is read with
    ``generator.initial_seed()``, so drawing no numbers leaves the initialisation of the
    following layers unchanged. Until ``init_member`` runs, member k uses seed k.
    """

    def __init__(self, p: float, *, members: int):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.members, self.p = members, float(p)
        self.member_seeds = list(range(members))

    def init_member(self, k: int, generator: torch.Generator) -> None:
        self.member_seeds[k] = int(generator.initial_seed())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return torch.zeros_like(x)
        b, k = x.shape[0], self.members
        if x.dim() < 2 or x.shape[1] % k:
            raise ValueError(f"BankDropout expects (B, K, ...) or (B, K*C, ...), got "
                             f"{tuple(x.shape)} for K = {k}")
        step_key = int(torch.randint(0, 2**62, (1,)).item())
        keys = member_keys(step_key, torch.tensor(self.member_seeds, dtype=torch.int64))
        rest = x[0].numel() // k
        keep = torch.stack([
            torch.rand((b, rest), generator=torch.Generator(device=x.device).manual_seed(
                int(key)), device=x.device) >= self.p
            for key in keys.tolist()], dim=1)  # (B, K, rest)
        return x * keep.view(x.shape).to(x.dtype) * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}, members={self.members}"


class InputNormalize(nn.Module):
    """Per-channel (x − mean) / std, so models take images in [0, 1] (attacks need that)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1,) * (x.dim() - 3) + (-1, 1, 1)  # channel axis is third from last
        return (x - self.mean.view(shape)) / self.std.view(shape)
