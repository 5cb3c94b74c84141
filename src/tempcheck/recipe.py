"""The recipe layer: the one place a :class:`~tempcheck.config.Config` becomes running objects.

A config is data; training needs a device, a dataset, a bank, an objective, fit options and an
augmentation. Every command that trains (``sweep``, ``distill``, ``dynamics``; later ``tune``)
builds them here, so the rules — ``precision=auto`` is bf16 on CUDA, adversarial training
defaults to the robustness evaluation's ε, text families get their vocabulary keywords — are
written once.

It sits above the library stages (data, models, train, eval, analysis) and below the sweep:

- :func:`resolve_device` — ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` → ``torch.device``; a
  device that is not there is a ConfigError (nothing has been written yet).
- :func:`load_data` — the dataset of ``config.data``, from a small bounded per-process cache.
- :func:`model_kwargs`, :func:`build_model` — a bank of the config's family for that data.
- :func:`make_objective` — the objective of ``train.temperature_mode``.
- :func:`fit_options` — :class:`~tempcheck.train.loop.FitOptions` of ``config.train``.
- :func:`make_augment` — the training augmentation of ``data.augment``.
- :func:`check` — every name and option of a config that only the library can judge (model
  and dataset names and options, evaluations and their options, the device), before anything
  is written.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import OrderedDict
from collections.abc import Sequence

import torch

from .config import Config, parse_options
from .data.base import DatasetSplits
from .errors import ConfigError
from .registry import create_model, load_dataset, lookup, metadata
from .train.loop import FitOptions


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N`` — only if it exists."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        index = name.partition(":")[2]
        if index and not index.isdigit():
            raise ConfigError(f"train.device: unknown device {name!r}; use auto, cpu, cuda or "
                              "cuda:N")
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device: {name!r} was asked for but no CUDA device is "
                              "available; use auto or cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise ConfigError(f"train.device: {name!r} does not exist; this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)")
        return torch.device(name)
    raise ConfigError(f"train.device: unknown device {name!r}; use auto, cpu, cuda or cuda:N")


# datasets are immutable once loaded; keep the last few so a sweep's groups (and a distillation
# after its teacher's sweep in one process) share one copy, without holding every dataset a
# long-lived process ever touched
DATA_CACHE_SIZE = 2
_DATA_CACHE: OrderedDict[tuple, DatasetSplits] = OrderedDict()


def data_cache_key(config: Config) -> tuple:
    d = config.data
    return (d.name, d.data_dir, d.split_seed, tuple(sorted(d.options.items())))


def load_data(config: Config) -> DatasetSplits:
    """The dataset named by ``config.data``, loaded at most once while it stays in the cache
    (the :data:`DATA_CACHE_SIZE` most recently used datasets)."""
    d = config.data
    key = data_cache_key(config)
    if key in _DATA_CACHE:
        _DATA_CACHE.move_to_end(key)
        return _DATA_CACHE[key]
    data = load_dataset(d.name, data_dir=d.data_dir, split_seed=d.split_seed,
                        download=d.download, **dict(d.options))
    _DATA_CACHE[key] = data
    while len(_DATA_CACHE) > DATA_CACHE_SIZE:
        _DATA_CACHE.popitem(last=False)
    return data


def clear_data_cache() -> None:
    """Forget every cached dataset (frees its memory)."""
    _DATA_CACHE.clear()


def model_kwargs(config: Config, data: DatasetSplits) -> dict:
    """Family keywords for ``data``: ``model.options`` plus the data's own (classes, channels,
    image size and normalisation for images; vocabulary size and length for text)."""
    return {**config.model.options, **data.model_kwargs()}


def build_model(config: Config, data: DatasetSplits, seeds: Sequence[int], *,
                name: str | None = None) -> torch.nn.Module:
    """A bank of ``len(seeds)`` members of ``model.name`` (or ``name``), member k initialised
    from ``seeds[k]``. Another family than the config's gets no ``model.options``."""
    family = name or config.model.name
    kwargs = model_kwargs(config, data)
    if family != config.model.name:
        kwargs = {k: v for k, v in kwargs.items() if k not in config.model.options}
    return create_model(family, members=len(seeds), seeds=[int(s) for s in seeds],
                        head_init_scale=config.model.head_init_scale, **kwargs)


def study_model_factory(config: Config, data: DatasetSplits):
    """``factory(family, seed) -> make(head_init_scale)``: K = 1 float64 models in eval mode
    for a sweep-level study — ``family`` None is the config's own (with its options),
    ``"linear"`` the exact linear model of ``analysis.dynamics``."""

    def factory(family: str | None, seed: int):
        family = family or config.model.name
        if family == "linear":
            from .analysis.dynamics import model_factory

            return model_factory("linear", data, seed=seed)

        def make(head_init_scale: float) -> torch.nn.Module:
            scaled = config.replace(model=dataclasses.replace(
                config.model, head_init_scale=head_init_scale))
            return build_model(scaled, data, [seed], name=family).double().eval()

        make.__name__ = family
        return make

    return factory


def make_objective(config: Config, taus: torch.Tensor):
    """The training objective of ``train.temperature_mode`` for members at ``taus`` (K,);
    None for ``fixed`` (fit's tempered cross-entropy)."""
    t = config.train
    if t.temperature_mode == "fixed":
        return None
    from .train.objectives_extra import (
        LearnableTemperatureObjective,
        ScheduledTemperatureObjective,
    )

    if t.temperature_mode == "learnable":
        bounds = None
        if t.temperature_min is not None or t.temperature_max is not None:
            bounds = (t.temperature_min, t.temperature_max)
        return LearnableTemperatureObjective(taus, members=len(taus), bounds=bounds,
                                             label_smoothing=t.label_smoothing)
    if t.temperature_mode == "scheduled":
        return ScheduledTemperatureObjective(taus, taus * t.temperature_end_ratio,
                                             kind=t.temperature_schedule,
                                             label_smoothing=t.label_smoothing)
    raise ConfigError(f"train.temperature_mode: unknown value {t.temperature_mode!r}; "
                      "allowed: fixed, learnable, scheduled")


def adversarial_training_options(config: Config, data: DatasetSplits) -> dict:
    """``train.adv_options`` with defaults: ε of the robustness evaluation for this data
    (8/255 on 32 px colour, 0.1 on digits), α = ε/4, 10 inner steps (Madry PGD-10)."""
    if config.train.adv_train == "none":
        return {}
    if data.kind != "image":
        raise ConfigError(f"train.adv_train={config.train.adv_train} needs an image dataset; "
                          f"{data.name} is {data.kind}")
    from .eval.robustness import default_eps

    opts = dict(config.train.adv_options)
    opts.setdefault("eps", float(default_eps(data)[0]))
    opts.setdefault("alpha", opts["eps"] / 4)
    opts.setdefault("steps", 10)
    return opts


def resolve_precision(config: Config, device: torch.device) -> str:
    """``auto`` is bf16 autocast on CUDA and fp32 elsewhere."""
    precision = config.train.precision
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def fit_options(config: Config, device: torch.device, data: DatasetSplits | None = None, *,
                epochs: int | None = None) -> FitOptions:
    """:class:`FitOptions` of ``config.train`` on ``device`` (``epochs`` overrides the count).
    With ``data``, adversarial training gets its data-dependent defaults."""
    t = config.train
    return FitOptions(
        epochs=t.epochs if epochs is None else int(epochs), batch_size=t.batch_size,
        optimizer=t.optimizer, momentum=t.momentum, nesterov=t.nesterov,
        weight_decay=t.weight_decay, betas=tuple(t.betas), schedule=t.schedule,
        warmup_epochs=t.warmup_epochs, step_epochs=t.step_epochs, step_gamma=t.step_gamma,
        label_smoothing=t.label_smoothing, stall_margin=t.stall_margin,
        eval_every=t.eval_every, eval_batch_size=config.eval.batch_size,
        precision=resolve_precision(config, device), adv_train=t.adv_train,
        adv_options=adversarial_training_options(config, data) if data is not None
        else dict(t.adv_options),
    )


def make_augment(config: Config, data: DatasetSplits):
    """The training augmentation of ``data.augment`` (None: no augmentation, or text data)."""
    if config.data.augment == "none" or data.kind != "image":
        return None
    from .data.augment import make_augment as _make

    return _make(config.data.augment, image_size=data.image_size)


def _check_keywords(factory, options: dict, where: str, reserved: Sequence[str],
                    extra: Sequence[str] = ()) -> None:
    """Unknown keyword options of a registered factory are ConfigErrors naming the allowed."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    # ``**options`` passes keywords on (checked where they land); ``**_`` only swallows them
    if any(p.kind is inspect.Parameter.VAR_KEYWORD and not p.name.startswith("_")
           for p in params.values()):
        return
    allowed = sorted({n for n, p in params.items()
                      if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                      and n not in reserved and n != "self"} | set(extra))
    for key in options:
        if key not in allowed:
            raise ConfigError(f"unknown option {where}.{key}; known: "
                              f"{', '.join(allowed) or 'none'}")


# keywords the recipe passes itself: not model.options
_MODEL_RESERVED = ("members", "seeds", "head_init_scale", "num_classes", "in_channels",
                   "image_size", "mean", "std", "vocab_size", "max_len", "pad_id")
_DATA_RESERVED = ("data_dir", "split_seed", "download")


def check(config: Config) -> None:
    """Check everything about ``config`` that needs the library: the device exists, the model
    and dataset are registered and their options are theirs, the evaluations exist and their
    options parse, adversarial-training options are known. Raises a ConfigError naming the key,
    the bad value and the allowed ones; loads no data and writes nothing."""
    from .evaluations import check_evaluation_options, select

    resolve_device(config.train.device)
    model_factory = lookup("model", config.model.name)
    # conv_mode is create_model's own (how banked convolutions run), valid for every family
    _check_keywords(model_factory, config.model.options, "model.options", _MODEL_RESERVED,
                    extra=("conv_mode",))
    dataset_factory = lookup("dataset", config.data.name)
    options_cls = metadata("dataset", config.data.name).get("options")
    if options_cls is not None:
        parse_options(options_cls, dict(config.data.options), "data.options")
    else:
        _check_keywords(dataset_factory, config.data.options, "data.options", _DATA_RESERVED)
    select(list(config.eval.run))
    check_evaluation_options(config)


__all__ = ["DATA_CACHE_SIZE", "adversarial_training_options", "build_model", "check",
           "clear_data_cache", "fit_options", "load_data", "make_augment", "make_objective",
           "model_kwargs", "resolve_device", "resolve_precision"]
