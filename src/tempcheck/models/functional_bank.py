"""``tempcheck.bank``: a bank of K members of any plain ``nn.Module``, fused with ``torch.func``.

``bank(factory, members=K, seeds=[...])`` calls ``factory(**options)`` once per member with the
global generator seeded with that member's seed (so member k starts exactly as
``torch.manual_seed(seed_k); factory(**options)``), stacks the members' parameters and buffers
along a leading K axis (the layout every bank parameter has, ``models/layers.py``, so the
per-member optimiser, freezing and member extraction work unchanged) and runs all K members in
one ``torch.func.vmap`` over ``torch.func.functional_call`` of one template module.

The bank keeps the contract of :class:`~.base.BankModel`: input ``(B, *S)`` shared by every
member or ``(B, K, *S)`` one per member (``S`` the sample shape, e.g. ``(C, H, W)``), logits
``(B, K, C)``; ``return_features=True`` also returns the input of the module's last
``nn.Linear`` call as ``(B, K, D)``. BatchNorm running statistics are stacked buffers, so they
stay per member (vmap updates them in place, member by member); dropout masks are drawn per
member from the member's seed (``models/member_dropout.py``), so member k of any bank equals
the K = 1 bank with the same seed, with or without dropout.

What vmap cannot batch is refused with one line naming the construct (``ModelError``): Python
control flow on a tensor's value (``if x.sum() > 0``, ``.item()``), in-place operations on the
input, random operations other than ``nn.Dropout`` modules. The bank probes the module with a
tiny batch when it is built, so these surface before anything trains.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from ..errors import ModelError
from .base import BankModel
from .layers import BankLinear, InputNormalize
from .member_dropout import DROPOUT_TYPES, MemberDropout, member_keys

# vmap's messages for what it cannot batch -> what the user wrote
_VMAP_LIMITS = (
    ("data-dependent control flow",
     "Python control flow on a tensor's value (if/while on a tensor, bool(tensor))"),
    (".item()", "Tensor.item() (a tensor's value read into Python)"),
    ("inplace", "an in-place operation whose result depends on the member's parameters "
                "(e.g. x.mul_(w), x += self.bias) on a tensor shared by all members"),
    ("randomness", "a random operation other than an nn.Dropout module (torch.rand, "
                   "F.dropout called directly, nn.AlphaDropout ...)"),
)


def _limit_error(where: str, exc: RuntimeError) -> ModelError | None:
    text = str(exc)
    for needle, construct in _VMAP_LIMITS:
        if needle in text:
            return ModelError(f"{where}: the module's forward uses {construct}, which "
                              "torch.func.vmap cannot batch over members; rewrite it "
                              "out of place / without it")
    return None


def _build_member(factory: Callable[..., nn.Module], options: dict, seed: int) -> nn.Module:
    """``factory(**options)`` with the global generator seeded with ``seed`` (restored after)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        module = factory(**options)
    if not isinstance(module, nn.Module):
        raise ModelError(f"the model factory returned {type(module).__name__}, not an nn.Module")
    return module


def _last_linear(module: nn.Module) -> tuple[str, nn.Linear] | None:
    found = None
    for name, m in module.named_modules():
        if isinstance(m, nn.Linear):
            found = (name, m)
    return found


def _scale_head(module: nn.Module, scale: float) -> None:
    """Multiply the last ``nn.Linear``'s weight and bias by ``scale`` (``model.head_init_scale``:
    the initial logit norm, as the native families' ``BankLinear(init_scale=...)``)."""
    if scale == 1.0:
        return
    found = _last_linear(module)
    if found is None:
        raise ModelError("model.head_init_scale needs an nn.Linear head in the module")
    with torch.no_grad():
        found[1].weight.mul_(scale)
        if found[1].bias is not None:
            found[1].bias.mul_(scale)


def _swap_dropouts(template: nn.Module, state: dict) -> int:
    """Replace every nn.Dropout-family submodule by a MemberDropout; returns how many."""
    count = 0
    for name, child in list(template.named_modules()):
        if name and isinstance(child, DROPOUT_TYPES):
            parent_name, _, attr = name.rpartition(".")
            parent = template.get_submodule(parent_name) if parent_name else template
            setattr(parent, attr, MemberDropout(child, state, count))
            count += 1
    return count


class FunctionalBank(BankModel):
    """K members of a plain module run with ``vmap(functional_call)``; see the module docstring.

    Args:
        members_list: the K modules, built by the same factory (same structure).
        seeds: ``(K,)`` their seeds (kept as the ``member_seeds`` buffer; they key dropout).
        sample_shape: the shape of one input sample (e.g. ``(1, 8, 8)``, or ``(L,)`` token
            ids); the bank probes the module with it and learns ``num_classes``. ``None``:
            images, not probed.
        vocab_size: token models: the probe draws token ids below it instead of images.
        mean, std: optional per-channel input normalisation applied before the members (the
            members then take images in [0, 1], as attacks need).
        name: how errors refer to the model (e.g. ``python:mypkg.nets:small_cnn``).
    """

    family = "functional"

    def __init__(self, members_list: Sequence[nn.Module], seeds: Sequence[int], *,
                 sample_shape: Sequence[int] | None = None, mean=None, std=None,
                 name: str = "the model", num_classes: int | None = None,
                 vocab_size: int | None = None):
        super().__init__(members=len(members_list), num_classes=int(num_classes or 0))
        if len(seeds) != len(members_list):
            raise ValueError(f"need {len(members_list)} seeds, got {len(seeds)}")
        self.name = name
        self.normalize = InputNormalize(tuple(mean), tuple(std)) if mean is not None else None
        self._dropout_state: dict = {}
        first = members_list[0]
        template = copy.deepcopy(first)
        self._dropouts = _swap_dropouts(template, self._dropout_state)
        # neither is a submodule: the template lends its structure to functional_call, the
        # plain copy is what member extraction returns; both follow .to() through _apply
        self._aux = [template, copy.deepcopy(first)]
        self.register_buffer("member_seeds", torch.tensor([int(s) for s in seeds]))
        self.net = copy.deepcopy(first)  # the holder of the stacked (K, ...) tensors
        self._stack_into_holder(members_list)
        self.sample_dim = len(sample_shape) + 1 if sample_shape is not None else 4
        found = _last_linear(template)
        self._head_name = found[0] if found else None
        if sample_shape is not None:
            self._probe(tuple(int(s) for s in sample_shape), vocab_size)

    # -- construction -----------------------------------------------------------------------
    def _stack_into_holder(self, members_list: Sequence[nn.Module]) -> None:
        """Every parameter and buffer of ``self.net`` becomes the (K, ...) stack of the members'
        (aliases of one tied tensor get the same stack)."""
        states = [dict(m.named_parameters(remove_duplicate=False)) for m in members_list]
        bufs = [dict(m.named_buffers(remove_duplicate=False)) for m in members_list]
        for names, is_param in ((states, True), (bufs, False)):
            stacks: dict[int, torch.Tensor] = {}
            for name, t0 in names[0].items():
                if id(t0) not in stacks:
                    stacked = torch.stack([n[name].detach() for n in names]).clone()
                    stacks[id(t0)] = (nn.Parameter(stacked, requires_grad=t0.requires_grad)
                                      if is_param else stacked)
                owner_name, _, attr = name.rpartition(".")
                owner = self.net.get_submodule(owner_name) if owner_name else self.net
                if is_param:
                    owner._parameters[attr] = stacks[id(t0)]
                else:
                    owner._buffers[attr] = stacks[id(t0)]

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for module in self._aux:
            module._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self._aux:
            module.train(mode)
        return self

    @torch.no_grad()
    def _probe(self, sample_shape: tuple[int, ...], vocab_size: int | None) -> None:
        """Run two samples through every member in train and eval mode on copies of the
        buffers: a vmap limit fails here, once, with its one-line error; learns num_classes."""
        gen = torch.Generator().manual_seed(0)
        x = (torch.randint(0, vocab_size, (2, *sample_shape), generator=gen) if vocab_size
             else torch.rand((2, *sample_shape), generator=gen))
        buffers = {n: b.clone() for n, b in self.net.named_buffers()}
        was = self.training
        try:
            for mode in (True, False):
                self.train(mode)
                z = self._run(x, None, buffers=buffers, step_key=0)
        finally:
            self.train(was)
        if z.dim() != 3:
            raise ModelError(f"{self.name}: a member must return (B, num_classes) logits; "
                             f"it returned shape {tuple(z.shape[:1] + z.shape[2:])}")
        if self.num_classes and z.shape[-1] != self.num_classes:
            raise ModelError(f"{self.name}: the module returns {z.shape[-1]} logits, the data "
                             f"has {self.num_classes} classes")
        self.num_classes = int(z.shape[-1])

    # -- forward ----------------------------------------------------------------------------
    def _run(self, x: torch.Tensor, x_dim: int | None, *, buffers=None, step_key=None,
             return_features: bool = False):
        template = self._aux[0]
        params = dict(self.net.named_parameters())
        buffers = dict(self.net.named_buffers()) if buffers is None else buffers
        random = self.training and self._dropouts > 0
        if random and step_key is None:
            # one draw per forward, whatever K: the K = 1 bank with this seed draws the same
            step_key = int(torch.randint(0, 2**62, ()))
        keys = member_keys(step_key or 0, self.member_seeds.cpu()).to(self.member_seeds.device)
        head = template.get_submodule(self._head_name) if return_features else None

        def one_member(p, b, xm, key):
            self._dropout_state.update(key=key, calls={})
            captured = {}
            hook = None
            if head is not None:
                hook = head.register_forward_pre_hook(
                    lambda _m, args: captured.__setitem__("f", args[0]))
            try:
                z = functional_call(template, (p, b), (xm,))
            finally:
                if hook is not None:
                    hook.remove()
            if head is not None:
                return captured["f"].flatten(1), z
            return z

        version = x._version
        try:
            out = vmap(one_member, in_dims=(0, 0, x_dim, 0), out_dims=1,
                       randomness="error")(params, buffers, x, keys)
        except RuntimeError as exc:
            error = _limit_error(self.name, exc)
            if error is None:
                raise
            raise error from None
        finally:
            self._dropout_state.clear()
        if x._version != version:
            raise ModelError(f"{self.name}: the module's forward changes its input in place "
                             "(e.g. x.sub_(...), nn.ReLU(inplace=True) first); members share "
                             "that input: use the out-of-place form")
        return out

    def forward(self, x: torch.Tensor, return_features: bool = False):
        if x.dim() == self.sample_dim:
            x_dim = None  # (B, *S): shared by all members
        elif x.dim() == self.sample_dim + 1 and x.shape[1] == self.members:
            x_dim = 1  # (B, K, *S): one input per member
        else:
            raise ValueError(f"expected ({self.sample_dim}-d) input shared by the members or "
                             f"(B, {self.members}, ...) per member, got {tuple(x.shape)}")
        if self.normalize is not None:
            x = self.normalize(x)
        if return_features and self._head_name is None:
            raise ModelError(f"{self.name}: features need an nn.Linear head in the module")
        return self._run(x, x_dim, return_features=return_features)

    @property
    def head(self) -> BankLinear | None:
        """The last ``nn.Linear`` as a detached :class:`BankLinear` copy ``(K, in, out)`` (what
        the gradient-balance check maps features with); None without an ``nn.Linear``."""
        if self._head_name is None:
            return None
        linear = self.net.get_submodule(self._head_name)
        k, out_features, in_features = linear.weight.shape
        view = BankLinear(in_features, out_features, members=k, bias=linear.bias is not None)
        with torch.no_grad():
            view.weight.copy_(linear.weight.transpose(1, 2))
            if linear.bias is not None:
                view.bias.copy_(linear.bias)
        return view.to(linear.weight.device)

    # -- members ----------------------------------------------------------------------------
    def member(self, k: int) -> nn.Module:
        """Member k as a plain module of the factory's class (original dropout layers), in the
        bank's mode and on its device. It does not include the bank's input normalisation."""
        plain = copy.deepcopy(self._aux[1])
        state = {name: t[k].clone() for name, t in self.net.state_dict().items()}
        plain.load_state_dict(state)
        return plain


def _accepts(factory: Callable, name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def bank(
    factory: Callable[..., nn.Module], *, members: int | None = None,
    seeds: Sequence[int] | None = None, options: dict | None = None,
    sample_shape: Sequence[int] | None = None, mean=None, std=None,
    head_init_scale: float = 1.0, num_classes: int | None = None, name: str | None = None,
    vocab_size: int | None = None,
) -> FunctionalBank:
    """A bank of ``members`` copies of ``factory(**options)``, member k built with ``seeds[k]``.

    Example::

        def small_cnn(width=16):
            return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width),
                                 nn.ReLU(), nn.Flatten(), nn.Linear(width * 64, 10))

        model = tempcheck.bank(small_cnn, members=4, seeds=[0, 1, 2, 3], options={"width": 8},
                               sample_shape=(1, 8, 8))
        model(x).shape  # (B, 4, 10); model.member(2) is a plain nn.Sequential

    Args:
        members: K (default ``len(seeds)``); ``seeds`` default ``range(members)``.
        sample_shape: one input's shape; when given the module is probed (vmap limits fail
            here with one line) and ``num_classes`` is read off its output.
        mean, std: per-channel input normalisation inside the bank (images in [0, 1]).
        head_init_scale: multiplies the last ``nn.Linear``'s initial weight and bias.
        vocab_size: for token-id inputs (``sample_shape=(L,)``): the probe's id range.
    """
    if seeds is None:
        if members is None:
            raise ValueError("give members=K or seeds=[...]")
        seeds = list(range(members))
    seeds = [int(s) for s in seeds]
    if members is not None and members != len(seeds):
        raise ValueError(f"members={members} but {len(seeds)} seeds")
    if not seeds:
        raise ValueError("a bank needs at least one member")
    where = name or getattr(factory, "__name__", "the model")
    built = []
    for seed in seeds:
        module = _build_member(factory, dict(options or {}), seed)
        _scale_head(module, float(head_init_scale))
        built.append(module)
    return FunctionalBank(built, seeds, sample_shape=sample_shape, mean=mean, std=std,
                          name=where, num_classes=num_classes, vocab_size=vocab_size)


# what a dataset tells every family (DatasetSplits.model_kwargs; text: data.extra)
_DATA_KEYWORDS = ("num_classes", "in_channels", "image_size", "vocab_size", "max_len", "pad_id")


def create_functional_bank(factory: Callable[..., nn.Module], name: str, *, members: int = 1,
                           seeds: Sequence[int] | None = None, head_init_scale: float = 1.0,
                           mean=None, std=None, **options) -> FunctionalBank:
    """The registry's constructor for ``python:...`` models. The data keywords every family
    gets (``num_classes``, ``in_channels``, ``image_size``; text: ``vocab_size``, ``max_len``,
    ``pad_id``) reach the factory when its signature takes them; ``mean``/``std`` too, else
    the bank normalises image inputs itself. Text models are probed with ``(max_len,)`` ids."""
    data = {k: options.pop(k) for k in _DATA_KEYWORDS if k in options}
    for key, value in data.items():
        if value is not None and _accepts(factory, key):
            options[key] = value
    normalise_inside = bool(mean) and not _accepts(factory, "mean")
    if mean and not normalise_inside:
        options.setdefault("mean", mean)
        options.setdefault("std", std)
    if data.get("in_channels") and data.get("image_size"):
        sample = (data["in_channels"], data["image_size"], data["image_size"])
    elif data.get("max_len"):
        sample = (int(data["max_len"]),)
    else:
        sample = None
    try:
        return bank(factory, members=members, seeds=seeds, options=options,
                    sample_shape=sample, mean=mean if normalise_inside else None,
                    std=std if normalise_inside else None, head_init_scale=head_init_scale,
                    num_classes=data.get("num_classes"), name=name,
                    vocab_size=data.get("vocab_size") if sample and len(sample) == 1 else None)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ModelError(f"{name}: model.options has a key the factory does not take "
                         f"({exc})") from None
