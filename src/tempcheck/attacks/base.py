"""The attack contract: banked, per-member adversarial examples in one pass (docs/theory.md §5).

An attack wraps a model that maps images ``(B, C, H, W)`` (shared) or ``(B, K, C, H, W)`` (one
input per member) in [0, 1] to logits ``(B, K, C)``. Calling it returns per-member adversarial
examples ``(B, K, C, H, W)``: member k attacks its own copy of the batch, and the losses of all
members are summed so that one backward pass gives every member's input gradient. Members share
nothing (the model runs in eval mode, so BatchNorm uses running statistics), hence member k's
result is the same as attacking member k alone with the same seed: random draws (random starts,
Square's proposals) are made once per example and shared by all members, drawn for the whole
batch.

Early exit (``active``): an attack can be told to attack only some (example, member) pairs,
e.g. those still robust after earlier attacks. The active pairs are *packed*: member k's active
examples fill column k of a ``(B', K, ...)`` batch, B' = the largest count over members, so the
cost follows the member with the most survivors rather than the number of examples any member
still needs. Random draws are still made once per original example (for the whole batch) and
read off per slot, so an example gets the same draws whether or not the others are attacked,
and member k of a bank still equals member k attacked alone.

While attacking, the model is put in eval mode; its previous train/eval mode is restored
afterwards, also on error. Parameter gradients are never accumulated (input gradients come from
``torch.autograd.grad``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..softmax import check_temperature
from .losses import LOSSES, attack_loss


@contextlib.contextmanager
def eval_mode(model):
    """Put ``model`` (an ``nn.Module``; plain callables pass through) in eval mode for the block
    and restore every submodule's previous mode afterwards."""
    modules = list(model.modules()) if isinstance(model, torch.nn.Module) else []
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.training = False
        yield model
    finally:
        for m, mode in zip(modules, modes):
            m.training = mode


def per_member(x: torch.Tensor, members: int) -> torch.Tensor:
    """A private copy of the batch for every member: ``(B, C, H, W)`` → ``(B, K, C, H, W)``."""
    if x.dim() == 5:
        if x.shape[1] != members:
            raise ValueError(f"input has {x.shape[1]} members, the model has {members}")
        return x.clone()
    if x.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W) or (B, K, C, H, W), got {tuple(x.shape)}")
    return x.unsqueeze(1).expand(-1, members, -1, -1, -1).clone()


def _bk(t: torch.Tensor) -> torch.Tensor:
    """A ``(B, K)`` tensor shaped to broadcast over ``(B, K, C, H, W)``."""
    return t[:, :, None, None, None]


def lp_norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample-per-member norm of ``(B, K, C, H, W)`` → ``(B, K)``."""
    flat = delta.flatten(2)
    return flat.abs().amax(-1) if norm == "linf" else flat.norm(dim=-1)


def project(x: torch.Tensor, x0: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project ``x`` onto {‖x − x0‖ ≤ ε} ∩ [0, 1]^d (per example and member).

    For L2 the ball projection comes first; clipping to [0, 1] afterwards only moves coordinates
    towards x0 ∈ [0, 1], so the result stays in the ball.
    """
    delta = x - x0
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    elif norm == "l2":
        delta = delta * (eps / _bk(lp_norm(delta, "l2")).clamp_min(1e-12)).clamp(max=1.0)
    else:
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    return (x0 + delta).clamp(0.0, 1.0)


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest-ascent unit step: sign(g) for L∞, g / ‖g‖₂ for L2 (0 where g = 0)."""
    if norm == "linf":
        return grad.sign()
    return grad / _bk(lp_norm(grad, "l2")).clamp_min(1e-12)


@dataclass(frozen=True)
class Packing:
    """Where the slots of a packed ``(B', K, ...)`` batch come from.

    ``rows`` ``(B', K)``: the row of the unpacked batch that slot (j, k) holds (member k's j-th
    active example); ``valid`` ``(B', K)``: false for padding (a member with fewer active
    examples than B'); ``ids`` ``(B', K)``: the example each slot holds, numbered within the
    ``examples`` examples whose random draws are shared (the original batch, also after packing
    a packed batch again); ``batch``: B, the rows of the batch that was packed.
    """

    rows: torch.Tensor
    valid: torch.Tensor
    ids: torch.Tensor
    examples: int
    batch: int

    @classmethod
    def identity(cls, batch: int, members: int, device=None) -> Packing:
        """Every example for every member: slot (j, k) holds example j."""
        rows = torch.arange(batch, device=device)[:, None].expand(batch, members)
        return cls(rows, torch.ones_like(rows, dtype=torch.bool), rows, batch, batch)

    def pack(self, active: torch.Tensor) -> Packing:
        """The packing of the active slots ``(B, K)`` of the batch this packing describes."""
        counts = active.sum(0)  # (K,)
        width = int(counts.max()) if active.numel() else 0
        # a stable sort puts each member's active rows first, in their original order
        order = torch.argsort((~active).to(torch.int8), dim=0, stable=True)[:width]  # (B', K)
        valid = torch.arange(width, device=active.device)[:, None] < counts[None, :]
        return Packing(order, valid, self.ids.gather(0, order), self.examples, active.shape[0])

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """``(B, K, ...)`` (or ``(B,)``, shared by the members) → the packed ``(B', K, ...)``."""
        if t.dim() == 1:
            return t[self.rows]
        members = torch.arange(self.rows.shape[1], device=t.device)
        return t[self.rows, members[None, :]]

    def scatter(self, dst: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        """Write the valid slots of ``src`` ``(B', K, ...)`` into a copy of ``dst``
        ``(B, K, ...)`` (padding is dropped)."""
        out = dst.clone()
        j, k = self.valid.nonzero(as_tuple=True)
        out[self.rows[j, k], k] = src[j, k].to(out.dtype)
        return out

    def per_slot(self, draw: torch.Tensor) -> torch.Tensor:
        """A draw made per example ``(examples, ...)`` read off per slot → ``(B', K, ...)``."""
        return draw[self.ids]


def random_start(
    x0: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None,
    packing: Packing | None = None,
) -> torch.Tensor:
    """A uniform random point of the ε-ball around ``x0`` ``(B, K, C, H, W)``, clipped to [0, 1].

    One draw per example (of ``packing``'s examples; default: the B rows), shared by all
    members (so a banked attack equals K single ones). For L2 the direction is Gaussian and the
    radius ε·U^{1/d} (uniform in the ball).
    """
    if packing is None:
        packing = Packing.identity(x0.shape[0], x0.shape[1], x0.device)
    shape = (packing.examples, *x0.shape[2:])
    if norm == "linf":
        noise = (rand(shape, generator, x0.device) * 2.0 - 1.0) * eps
    else:
        direction = randn(shape, generator, x0.device)
        direction = direction / direction.flatten(1).norm(dim=1).clamp_min(1e-12).view(
            -1, *[1] * (direction.dim() - 1))
        d = direction[0].numel()
        radius = rand((shape[0],), generator, x0.device) ** (1.0 / d) * eps
        noise = direction * radius.view(-1, *[1] * (direction.dim() - 1))
    return project(x0 + packing.per_slot(noise.to(x0.device)), x0, eps, norm)


def rand(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    """U[0, 1) drawn on the generator's device (CPU by default), then moved to ``device``."""
    gen_device = generator.device if generator is not None else "cpu"
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def randn(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else "cpu"
    return torch.randn(shape, generator=generator, device=gen_device).to(device)


class BestTracker:
    """Per example and member: the first successful point, else the one with the highest loss.

    ``update(x, loss, success)`` with ``x`` ``(B, K, C, H, W)`` and ``loss`` / ``success``
    ``(B, K)``; ``x`` / ``loss`` / ``done`` hold the current choice.
    """

    def __init__(self, x: torch.Tensor, done: torch.Tensor | None = None):
        self.x = x.clone()
        self.loss = torch.full(x.shape[:2], float("-inf"), device=x.device)
        self.done = (done.clone() if done is not None
                     else torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device))

    def update(self, x: torch.Tensor, loss: torch.Tensor, success: torch.Tensor) -> None:
        better = ~self.done & (success | (loss > self.loss))
        self.x = torch.where(_bk(better), x, self.x)
        self.loss = torch.where(better, loss, self.loss)
        self.done = self.done | success


class Attack:
    """Base class: eval mode, [0, 1] inputs, per-member copies, loss and success per member.

    Args:
        model: maps ``(B, C, H, W)`` / ``(B, K, C, H, W)`` in [0, 1] to logits ``(B, K, C)``.
        eps: radius of the threat model (L∞ or L2, ``norm``).
        loss: one of ``attacks.losses.LOSSES`` (the attack climbs it).
        temperatures: ``(K,)`` training temperature of each member (needed by ``"ce_tau"``).
        seed / generator: random draws come from ``generator`` if given, else from a CPU
            generator seeded with ``seed``.

    ``attack(x, y, target=None, active=None)`` → ``(B, K, C, H, W)``. With ``target``
    (``(B,)`` or ``(B, K)``) the attack is targeted and succeeds when the member predicts the
    target. With ``active`` (``(B, K)`` bool) only those pairs are attacked (packed, see the
    module docstring); the others come back as their clean input.

    Subclasses implement ``perturb(x0, y, target)`` on per-member clean copies; ``x0`` may be a
    packed batch, ``y`` / ``target`` are then ``(B', K)``, and ``self.packing`` says which
    example each slot holds (random draws go through it; padding slots are never successes).
    """

    name = "attack"

    def __init__(
        self, model, *, eps: float, norm: str = "linf", loss: str = "ce_tau",
        temperatures=None, seed: int = 0, generator: torch.Generator | None = None,
    ) -> None:
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
        if loss not in LOSSES:
            raise ValueError(f"unknown attack loss {loss!r}; known: {', '.join(LOSSES)}")
        if loss == "ce_tau" and temperatures is None:
            raise ValueError("loss 'ce_tau' needs the members' temperatures")
        self.model, self.eps, self.norm, self.loss_name = model, float(eps), norm, loss
        # kept on the CPU: the tempered loss validates τ on the host every step
        self.temperatures = (
            check_temperature(temperatures).float().reshape(-1)
            if temperatures is not None else None
        )
        self.generator = generator if generator is not None else torch.Generator().manual_seed(
            int(seed))
        self.success_on_target = True  # APGD-T counts any misclassification instead

    # -- entry point --------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None,
                 active: torch.Tensor | None = None):
        x = x.detach().float()
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError("attacks work on images in [0, 1]; got values outside that range")
        y = y.to(x.device)
        target = target.to(x.device) if target is not None else None
        with eval_mode(self.model), torch.enable_grad():
            x0 = per_member(x, self.member_count(x))
            self.packing = Packing.identity(x0.shape[0], x0.shape[1], x0.device)
            if active is None:
                return self.perturb(x0, y, target).detach()
            active = active.to(x0.device)
            if tuple(active.shape) != tuple(x0.shape[:2]):
                raise ValueError(f"active must be (B, K) = {tuple(x0.shape[:2])}, "
                                 f"got {tuple(active.shape)}")
            if not active.any():
                return x0
            packing = self.packing = self.packing.pack(active)
            y_k = y.unsqueeze(1).expand(x0.shape[:2]) if y.dim() == 1 else y
            t_k = None if target is None else (
                target.unsqueeze(1).expand(x0.shape[:2]) if target.dim() == 1 else target)
            x_adv = self.perturb(packing.gather(x0), packing.gather(y_k),
                                 None if t_k is None else packing.gather(t_k))
            return packing.scatter(x0, x_adv.detach())

    packing: Packing  # of the current call: which example each slot of ``perturb``'s batch holds

    def perturb(self, x0: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
        """Adversarial examples ``(B, K, C, H, W)`` from per-member clean copies ``x0``."""
        raise NotImplementedError

    # -- helpers for subclasses -----------------------------------------------------------------
    def member_count(self, x: torch.Tensor) -> int:
        """K: the model's ``members`` attribute, else read off one forward pass."""
        members = getattr(self.model, "members", None)
        if members is not None:
            return int(members)
        with torch.no_grad():
            return int(self.model(x[:1]).shape[1])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).float()

    def loss(self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
        return attack_loss(
            self.loss_name, logits, y, temperatures=self.temperatures, target=target
        )

    def success(self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
        """``(B, K)`` bool: misclassified (untargeted) or predicting the target."""
        pred = logits.argmax(-1)
        if target is not None and self.success_on_target:
            return pred == (target.unsqueeze(1) if target.dim() == 1 else target)
        return pred != (y.unsqueeze(1) if y.dim() == 1 else y)

    def padding(self, x0: torch.Tensor) -> torch.Tensor:
        """``(B', K)`` bool: the slots of ``perturb``'s batch that hold no example."""
        packing = getattr(self, "packing", None)
        if packing is None or packing.valid.shape != x0.shape[:2]:
            return torch.zeros(x0.shape[:2], dtype=torch.bool, device=x0.device)
        return ~packing.valid

    def unpack_stat(self, stat: torch.Tensor, fill: float) -> torch.Tensor:
        """A per-slot statistic ``(B', K)`` of ``perturb``'s batch → ``(B, K)`` of the caller's
        batch (``fill`` where nothing was attacked)."""
        full = torch.full((self.packing.batch, *stat.shape[1:]), fill, dtype=stat.dtype,
                          device=stat.device)
        return self.packing.scatter(full, stat)

    def loss_and_grad(self, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
        """``(logits, loss (B, K), ∇ₓ loss (B, K, C, H, W))`` in one forward and backward."""
        x = x.detach().requires_grad_(True)
        logits = self.logits(x)
        loss = self.loss(logits, y, target)
        # summing over members is exact: member k's logits depend on x[:, k] only
        (grad,) = torch.autograd.grad(loss.sum(), x)
        return logits.detach(), loss.detach(), grad
