"""Frozen configuration dataclasses, YAML loading and dotted command-line overrides.

A config has five sections — ``data``, ``model``, ``train``, ``sweep``, ``eval`` — each a frozen
dataclass. ``load_config(path, overrides)`` reads a YAML file (any subset of keys), applies
overrides such as ``"train.lr=0.05"`` and validates as the config is built: an unknown key, a
duplicate key, a malformed file, a value of the wrong type, an enumerated value outside its
allowed set (optimizer, schedule, precision, device, temperature mode, adversarial training,
backend, augmentation) or a number outside its range is a :class:`ConfigError` naming the key,
the bad value and what is allowed. Duplicate temperatures, seeds or learning rates are refused
(two members would write one row).

A config is deeply frozen (mappings are :class:`FrozenDict`, lists are tuples) and hashable;
``Config.to_dict`` gives plain dicts and lists (saved with every run) and
``from_dict(config.to_dict()) == config``.

Options of individual evaluations (``eval.<name>.<key>``), model families
(``model.options``) and loaders (``data.options``) are mappings here and checked by their owners'
options classes through :func:`parse_options` (the one option parser) before anything is
written — ``tempcheck.recipe.check`` does it for a whole config — so adding an evaluation never
touches this file.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

# the enumerated values of the config; tests check they agree with the library's own lists
AUGMENTS = ("none", "crop_flip", "crop_flip_cutout")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "cosine", "step")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "cuda:N")
TEMPERATURE_MODES = ("fixed", "learnable", "scheduled")
TEMPERATURE_SCHEDULES = ("constant", "linear", "cosine", "exponential")
ADVERSARIAL_TRAINING = ("none", "pgd", "trades")
BACKENDS = ("local", "ray")
TRACKERS = ("tensorboard", "mlflow")
SEED_MAX = 2**32 - 1  # numpy's and every framework's common seed range


class FrozenDict(dict):
    """A read-only, hashable ``dict`` (JSON- and YAML-serialisable like a dict)."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("a config mapping is frozen; use dataclasses.replace on its section")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse
    __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((str(k), v) for k, v in self.items())))

    def __reduce__(self):
        return (FrozenDict, (dict(self),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def freeze(value: Any) -> Any:
    """Mappings → :class:`FrozenDict`, lists and tuples → tuples, recursively."""
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists (for JSON and YAML)."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def _one_of(where: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}={value!r} is not allowed; allowed: {', '.join(allowed)}")


def _check_range(where: str, value: Any, ok: bool, allowed: str) -> None:
    if value is not None and not ok:
        raise ConfigError(f"{where}={value!r} is out of range; allowed: {allowed}")


def _distinct(where: str, values) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"{where} lists {v!r} twice; each value may appear once")
        seen.add(v)


def check_seed(where: str, seed: Any) -> int:
    """A seed is an integer in [0, 2³² − 1]."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{where}={seed!r} is not an integer seed")
    _check_range(where, seed, 0 <= seed <= SEED_MAX, f"integers 0 ... {SEED_MAX}")
    return seed


def _default_temperatures() -> list[float]:
    return log_range(0.1, 100.0, 7)


def log_range(lo: float, hi: float, n: int) -> list[float]:
    """``n`` log-spaced values from lo to hi inclusive, rounded to 4 significant digits."""
    if n < 1 or lo <= 0 or hi <= 0:
        raise ConfigError(f"bad log range {lo}:{hi}:{n} (need lo, hi > 0 and n >= 1)")
    if n == 1:
        return [float(lo)]
    step = (math.log(hi) - math.log(lo)) / (n - 1)
    return [float(f"{math.exp(math.log(lo) + i * step):.4g}") for i in range(n)]


def parse_temperatures(spec: Any) -> list[float]:
    """Parse ``"0.1,1,10"``, a log range ``"0.1:100:7"``, a number or a list into a list of τ.

    Every τ must be finite and > 0 (a ConfigError naming the bad value otherwise)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        values = [float(spec)]
    elif isinstance(spec, str):
        text = spec.strip()
        try:
            if ":" in text:
                parts = text.split(":")
                if len(parts) != 3:
                    raise ConfigError(f"a temperature range is lo:hi:n, got {spec!r}")
                values = log_range(float(parts[0]), float(parts[1]), int(parts[2]))
            else:
                values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError as exc:
            raise ConfigError(f"cannot parse temperatures {spec!r}: {exc}") from None
    elif isinstance(spec, (list, tuple)):
        values = []
        for v in spec:
            try:
                values.append(float(v))
            except (TypeError, ValueError):
                raise ConfigError(f"temperature {v!r} is not a number") from None
    else:
        raise ConfigError(f"cannot parse temperatures {spec!r}")
    if not values:
        raise ConfigError(f"no temperatures given ({spec!r}); give e.g. 0.1,1,10 or 0.1:100:7")
    for v in values:
        if not math.isfinite(v) or v <= 0:
            raise ConfigError(f"temperature must be finite and > 0, got {v!r}")
    return values


def parse_int_list(spec: Any, what: str) -> list[int]:
    """``"0,1,2"``, ``3`` or ``[0, 1]`` → list of ints."""
    if isinstance(spec, bool):
        raise ConfigError(f"{what} must be integers, got {spec!r}")
    if isinstance(spec, int):
        return [spec]
    try:
        if isinstance(spec, str):
            return [int(v) for v in spec.split(",") if v.strip()]
        values = []
        for v in spec:
            if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                raise ValueError(v)
            values.append(int(v))
        return values
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{what} must be integers, got {spec!r}") from None


def parse_float_list(spec: Any, what: str) -> list[float]:
    if isinstance(spec, bool):
        raise ConfigError(f"{what} must be numbers, got {spec!r}")
    if isinstance(spec, (int, float)):
        return [float(spec)]
    try:
        if isinstance(spec, str):
            return [float(v) for v in spec.split(",") if v.strip()]
        if any(isinstance(v, bool) for v in spec):
            raise ValueError(spec)
        return [float(v) for v in spec]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be numbers, got {spec!r}") from None


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive(where: str, value: Any) -> None:
    _check_range(where, value, _finite(value) and value > 0, "finite numbers > 0")


def _at_least(where: str, value: Any, low: int) -> None:
    _check_range(where, value, value >= low, f"integers >= {low}")


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"
    data_dir: str | None = None  # folder with the dataset files (real datasets)
    download: bool = False  # never download unless asked
    split_seed: int = 0  # fixes the train / validation / test split
    augment: str = "none"  # "none" | "crop_flip" | "crop_flip_cutout"
    options: dict = field(default_factory=dict)  # loader-specific options (data.options)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", freeze(dict(self.options)))
        _one_of("data.augment", self.augment, AUGMENTS)
        check_seed("data.split_seed", self.split_seed)
        if not self.name:
            raise ConfigError("data.name is empty; give a dataset name (tempcheck list)")


@dataclass(frozen=True)
class ModelConfig:
    name: str = "cnn"
    head_init_scale: float = 1.0  # scales the last layer's init: the initial logit norm ‖z₀‖
    options: dict = field(default_factory=dict)  # family-specific keyword arguments

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", freeze(dict(self.options)))
        _positive("model.head_init_scale", self.head_init_scale)
        if not self.name:
            raise ConfigError("model.name is empty; give a model family (tempcheck list)")


ADVERSARIAL_TRAINING_KEYS = ("eps", "alpha", "steps", "trades_beta")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "sgd"  # "sgd" | "adamw"
    lr: float = 0.05  # base learning rate η̃ (η = η̃ · τ^a)
    lr_temperature_exponent: float = 0.0  # a in η = η̃ · τ^a (docs/theory.md §3)
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    betas: tuple = (0.9, 0.999)  # AdamW
    schedule: str = "cosine"  # "constant" | "cosine" | "step"
    warmup_epochs: float = 0.0
    step_epochs: int = 30  # "step" schedule: decay every step_epochs
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    stall_margin: float = 0.1  # stalled: final train accuracy < chance + stall_margin
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA) | "fp32" | "bf16"
    compile: bool = False  # torch.compile the bank (GPU)
    threads: int | None = None  # torch intra-op threads during the sweep (None: torch's default)
    checkpoint_every: int = 5  # epochs between checkpoints (and always at the end)
    eval_every: int = 1  # epochs between validation/test passes in metrics.jsonl
    # how each member's training temperature behaves: "fixed" at its τ; "learnable" (log τ
    # learned with the weights, starting at τ, optionally bounded); "scheduled" (from τ to
    # τ·temperature_end_ratio along temperature_schedule)
    temperature_mode: str = "fixed"
    temperature_schedule: str = "cosine"  # constant | linear | cosine | exponential
    temperature_end_ratio: float = 1.0
    temperature_min: float | None = None  # bounds of a learnable τ
    temperature_max: float | None = None
    adv_train: str = "none"  # "none" | "pgd" | "trades" (adversarial training)
    adv_options: dict = field(default_factory=dict)  # eps, alpha, steps, trades_beta

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", freeze(self.betas))
        object.__setattr__(self, "adv_options", freeze(dict(self.adv_options)))
        _at_least("train.epochs", self.epochs, 1)
        _at_least("train.batch_size", self.batch_size, 1)
        _one_of("train.optimizer", self.optimizer, OPTIMIZERS)
        _positive("train.lr", self.lr)
        _check_range("train.momentum", self.momentum, 0 <= self.momentum < 1, "[0, 1)")
        _check_range("train.weight_decay", self.weight_decay, self.weight_decay >= 0, ">= 0")
        if len(self.betas) != 2 or not all(_finite(b) and 0 <= b < 1 for b in self.betas):
            raise ConfigError(f"train.betas={list(self.betas)!r} is out of range; allowed: two "
                              "numbers in [0, 1)")
        _one_of("train.schedule", self.schedule, SCHEDULES)
        _check_range("train.warmup_epochs", self.warmup_epochs, self.warmup_epochs >= 0, ">= 0")
        _at_least("train.step_epochs", self.step_epochs, 1)
        _check_range("train.step_gamma", self.step_gamma, 0 < self.step_gamma <= 1, "(0, 1]")
        _check_range("train.label_smoothing", self.label_smoothing,
                     0 <= self.label_smoothing < 1, "[0, 1)")
        _check_range("train.stall_margin", self.stall_margin, 0 <= self.stall_margin <= 1,
                     "[0, 1]")
        device = self.device
        if not (device in ("auto", "cpu", "cuda")
                or (device.startswith("cuda:") and device[5:].isdigit())):
            raise ConfigError(f"train.device={device!r} is not allowed; allowed: "
                              f"{', '.join(DEVICES)}")
        _one_of("train.precision", self.precision, PRECISIONS)
        _at_least("train.checkpoint_every", self.checkpoint_every, 1)
        _at_least("train.eval_every", self.eval_every, 1)
        if self.threads is not None:
            _at_least("train.threads", self.threads, 1)
        _one_of("train.temperature_mode", self.temperature_mode, TEMPERATURE_MODES)
        _one_of("train.temperature_schedule", self.temperature_schedule, TEMPERATURE_SCHEDULES)
        _positive("train.temperature_end_ratio", self.temperature_end_ratio)
        _positive("train.temperature_min", self.temperature_min)
        _positive("train.temperature_max", self.temperature_max)
        if (self.temperature_min is not None and self.temperature_max is not None
                and self.temperature_min >= self.temperature_max):
            raise ConfigError(f"train.temperature_min={self.temperature_min!r} must be below "
                              f"train.temperature_max={self.temperature_max!r}")
        _one_of("train.adv_train", self.adv_train, ADVERSARIAL_TRAINING)
        for key, value in self.adv_options.items():
            if key not in ADVERSARIAL_TRAINING_KEYS:
                raise ConfigError(f"unknown option train.adv_options.{key}; known: "
                                  f"{', '.join(ADVERSARIAL_TRAINING_KEYS)}")
            if key == "steps":
                _check_range(f"train.adv_options.{key}", value,
                             isinstance(value, int) and not isinstance(value, bool)
                             and value >= 1, "integers >= 1")
            else:
                _check_range(f"train.adv_options.{key}", value, _finite(value) and value >= 0,
                             "finite numbers >= 0")


@dataclass(frozen=True)
class SweepConfig:
    temperatures: list = field(default_factory=_default_temperatures)
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    lrs: list | None = None  # optional grid of base learning rates (overrides train.lr)
    # members per bank: "auto" (the device's rule, sweep/bank_size.py), "all" (one bank per
    # seed) or an integer >= 1 (1 trains every member alone)
    max_bank: int | str = "auto"
    retries: int = 1  # extra attempts for a group whose worker dies
    backend: str = "local"  # "local" | "ray"
    ray_address: str | None = None
    gpus_per_bank: float = 0.0
    cpus_per_bank: float = 1.0
    # per-member, per-epoch logging to "tensorboard" and/or "mlflow" (optional extras); off
    trackers: list = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trackers", freeze(self.trackers))
        for tracker in self.trackers:
            _one_of("sweep.trackers", tracker, TRACKERS)
        object.__setattr__(self, "temperatures", freeze(parse_temperatures(self.temperatures)))
        object.__setattr__(self, "seeds", freeze(self.seeds))
        if self.lrs is not None:
            object.__setattr__(self, "lrs", freeze(self.lrs))
        _distinct("sweep.temperatures", self.temperatures)
        if not self.seeds:
            raise ConfigError("sweep.seeds is empty; give at least one seed, e.g. 0 or 0,1,2")
        for seed in self.seeds:
            check_seed("sweep.seeds", seed)
        _distinct("sweep.seeds", self.seeds)
        if self.lrs is not None:
            if not self.lrs:
                raise ConfigError("sweep.lrs is empty; leave it out to use train.lr")
            for lr in self.lrs:
                _positive("sweep.lrs", lr)
            _distinct("sweep.lrs", self.lrs)
        object.__setattr__(self, "max_bank", parse_max_bank(self.max_bank))
        _at_least("sweep.retries", self.retries, 0)
        _one_of("sweep.backend", self.backend, BACKENDS)
        _check_range("sweep.gpus_per_bank", self.gpus_per_bank, self.gpus_per_bank >= 0, ">= 0")
        _positive("sweep.cpus_per_bank", self.cpus_per_bank)


@dataclass(frozen=True)
class EvalConfig:
    """``eval``: which evaluations run, their batch size, the reference member, and each
    evaluation's options (``eval.<name>.<key>``, kept in ``options[name]``; read them as
    ``config.eval.options_for(name)`` or ``config.eval.<name>``)."""

    run: list = field(default_factory=lambda: ["all"])  # names of evaluations, or ["all"]
    batch_size: int = 512
    baseline_temperature: float = 1.0  # reference member for relative metrics (mCE)
    options: dict = field(default_factory=dict)  # evaluation name -> its options mapping

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", freeze(self.run))
        object.__setattr__(self, "options", freeze(dict(self.options)))
        _at_least("eval.batch_size", self.batch_size, 1)
        _positive("eval.baseline_temperature", self.baseline_temperature)
        for name, opts in self.options.items():
            if not isinstance(opts, dict):
                raise ConfigError(f"eval.{name} must be a mapping of options, got {opts!r}")

    def options_for(self, name: str) -> dict:
        """The options given for evaluation ``name`` (a plain dict; empty when none)."""
        return thaw(self.options.get(name, {}))

    def __getattr__(self, name: str):
        # ``config.eval.adversarial``: an evaluation's options, read like a section key
        if name.startswith("_"):
            raise AttributeError(name)
        return self.__dict__.get("options", FrozenDict()).get(name, FrozenDict())


_EVAL_KEYS = ("run", "batch_size", "baseline_temperature")


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        """Plain nested dicts and lists; ``from_dict(config.to_dict()) == config``."""
        out = {}
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            values = {g.name: thaw(getattr(section, g.name))
                      for g in dataclasses.fields(section) if g.name != "options"
                      or f.name != "eval"}
            if f.name == "eval":
                values.update(thaw(section.options))
            out[f.name] = values
        return out

    @classmethod
    def from_dict(cls, raw: dict | None) -> Config:
        return from_dict(raw)

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Config)}
_SECTION_CLASSES = {
    "data": DataConfig, "model": ModelConfig, "train": TrainConfig,
    "sweep": SweepConfig, "eval": EvalConfig,
}


def parse_max_bank(value: Any, where: str = "sweep.max_bank") -> int | str:
    """``"auto"``, ``"all"`` (also None, as configs saved before "auto" existed) or an
    integer >= 1."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return "all"
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ConfigError(f"{where} must be 'auto', 'all' or an integer >= 1, got {value!r}")


def _type_name(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__",
                                                                  str(annotation))


def coerce_value(where: str, value: Any, annotation: Any) -> Any:
    """``value`` as the type a field is annotated with (``int``, ``float | None``, ``tuple``,
    ``dict``, ``bool``, ``str`` ...), or a ConfigError naming ``where``. Integers are accepted
    where floats are expected, integral floats where integers are, ``"a,b"`` where a tuple is;
    mappings and lists come back frozen. Unrecognised annotations pass the value through."""
    ann = _type_name(annotation)
    parts = {p.strip().split("[")[0] for p in ann.replace("Optional[", "").split("|")}
    if value is None:
        if "None" in parts or ann == "Any":
            return None
        raise ConfigError(f"{where} cannot be empty")
    if "bool" in parts:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        if len(parts - {"None"}) == 1:
            raise ConfigError(f"{where} must be true or false, got {value!r}")
    if "int" in parts and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer() and "float" not in parts:
            return int(value)
    if "float" in parts and not isinstance(value, bool) and isinstance(value, (int, float)):
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be finite, got {value!r}")
        return value
    if "str" in parts and isinstance(value, str):
        return value
    if parts & {"dict", "Mapping"} and isinstance(value, dict):
        return freeze(value)
    if parts & {"tuple", "list", "Sequence"}:
        if isinstance(value, (list, tuple)):
            return freeze(value)
        if isinstance(value, str) and "str" not in parts:
            return tuple(v.strip() for v in value.split(",") if v.strip())
    known = {"None", "bool", "int", "float", "str", "dict", "Mapping", "tuple", "list",
             "Sequence"}
    if not parts <= known:  # an annotation this parser does not know: the owner checks it
        return freeze(value)
    if "str" in parts and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if parts - {"None"} == {"int"}:
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if parts - {"None"} == {"float"}:
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if parts & {"dict", "Mapping"}:
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    if parts & {"tuple", "list", "Sequence"}:
        raise ConfigError(f"{where} must be a list, got {value!r}")
    raise ConfigError(f"{where} must be {ann}, got {value!r}")


def parse_options(cls, options: Any, where: str):
    """The one option parser: build the frozen options dataclass ``cls`` from a mapping (config
    keys, ``data.options`` of a loader, ``eval.<name>`` of an evaluation). An unknown key, a value
    of the wrong type or a value its ``validate()`` / ``__post_init__`` refuses is a ConfigError
    naming ``<where>.<key>``."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ConfigError(f"{where} must be a mapping of options, got {options!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in options.items():
        if key not in fields:
            raise ConfigError(f"unknown option {where}.{key}; known: "
                              f"{', '.join(sorted(fields)) or 'none'}")
        if fields[key].metadata.get("unbounded") and isinstance(value, float) \
                and value == math.inf:
            kwargs[key] = value  # a field that declares +inf meaningful (e.g. "no prior")
            continue
        kwargs[key] = coerce_value(f"{where}.{key}", value, fields[key].type)
    try:
        parsed = cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    check = getattr(parsed, "validate", None)
    if callable(check):
        check()
    return parsed


def _coerce(section: str, key: str, value: Any, annotation: Any) -> Any:
    """A config key's value checked and converted; ConfigError naming ``section.key``."""
    where = f"{section}.{key}"
    if section == "sweep" and key == "temperatures":
        return parse_temperatures(value)
    if section == "sweep" and key == "seeds":
        return parse_int_list(value, where)
    if section == "sweep" and key == "lrs":
        return None if value is None else parse_float_list(value, where)
    if section == "sweep" and key == "max_bank":
        return parse_max_bank(value, where)
    if section == "eval" and key == "run":
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConfigError(f"{where} must be a list of evaluation names, got {value!r}")
    if key in ("options", "adv_options") and value is None:
        return {}
    return coerce_value(where, value, annotation)


def from_dict(raw: dict | None) -> Config:
    """Build a validated Config from a nested mapping; unknown keys are ConfigErrors."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(raw).__name__}")
    sections = {}
    for name, values in raw.items():
        if name not in _SECTION_CLASSES:
            raise ConfigError(
                f"unknown config section {name!r}; known: {', '.join(_SECTION_CLASSES)}"
            )
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"config section {name!r} must be a mapping")
        cls = _SECTION_CLASSES[name]
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        known = sorted(set(types) - ({"options"} if name == "eval" else set()))
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if name == "eval" and key not in _EVAL_KEYS:
                # an evaluation's options; whether the evaluation exists is the registry's call
                if value is None:
                    value = {}
                if not isinstance(value, dict):
                    raise ConfigError(f"eval.{key} must be an evaluation's options (a mapping) "
                                      f"or one of {', '.join(_EVAL_KEYS)}; got {value!r}")
                kwargs.setdefault("options", {})[key] = value
                continue
            if key not in known:
                raise ConfigError(
                    f"unknown config key {name}.{key}; known: {', '.join(known)}"
                )
            kwargs[key] = _coerce(name, key, value, types[key])
        try:
            sections[name] = cls(**kwargs)
        except TypeError as exc:  # a mistyped value reaching a comparison
            raise ConfigError(f"config section {name}: {exc}") from None
    return Config(**sections)


def set_dotted(raw: dict, dotted: str, value: Any) -> None:
    """Set ``raw["a"]["b"]["c"] = value`` for ``"a.b.c"``, creating mappings as needed."""
    parts = dotted.split(".")
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"override {dotted!r} must look like section.key=value")
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted}: {part} is not a mapping")
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.lr=0.05"`` → ("train.lr", 0.05); the value is parsed as YAML (numbers, lists)."""
    text = text[2:] if text.startswith("--") else text
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, _, value = text.partition("=")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (YAML keeps the last one
    silently, so a recipe with two ``lr:`` lines would train with whichever came second)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys
            if key in seen:
                raise ConfigError(
                    f"duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                    f"(first at line {seen[key] + 1}) in {self.name}")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def safe_load_unique(text: str, name: str = "<string>"):
    """``yaml.safe_load`` that refuses duplicate keys (a ConfigError naming the line)."""
    loader = _UniqueKeyLoader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> dict:
    """Read a YAML config file into a mapping; missing or malformed files are ConfigErrors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        raw = safe_load_unique(path.read_text(encoding="utf-8"), str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"malformed YAML in {path}{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                values: dict[str, Any] | None = None) -> Config:
    """Load a YAML config (or the defaults), apply ``section.key=value`` overrides (values parsed
    as YAML), then ``values`` (``{"data.data_dir": "it's/here"}``, taken as they are), and
    validate the result."""
    raw = read_yaml(path) if path is not None else {}
    for text in overrides or []:
        key, value = parse_override(text)
        set_dotted(raw, key, value)
    for key, value in (values or {}).items():
        set_dotted(raw, key, value)
    return from_dict(raw)
