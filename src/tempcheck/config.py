"""Frozen configuration dataclasses, YAML loading and dotted command-line overrides.

A config has five sections — ``data``, ``model``, ``train``, ``sweep``, ``eval`` — each a frozen
dataclass. ``load_config(path, overrides)`` reads a YAML file (any subset of keys), applies
overrides such as ``"train.lr=0.05"`` and validates: an unknown key, a malformed file or a value
of the wrong type is a :class:`ConfigError` naming it. The resolved config is saved with every
run (``Config.to_dict``).

Options of individual evaluations (``eval.adversarial.eps`` ...) and of model families
(``model.options.widths``) are free-form mappings here and validated by their owners, so adding an
evaluation never touches this file.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


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
        raise ConfigError("no temperatures given")
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
        return [int(v) for v in spec]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be integers, got {spec!r}") from None


def parse_float_list(spec: Any, what: str) -> list[float]:
    if isinstance(spec, bool):
        raise ConfigError(f"{what} must be numbers, got {spec!r}")
    if isinstance(spec, (int, float)):
        return [float(spec)]
    try:
        if isinstance(spec, str):
            return [float(v) for v in spec.split(",") if v.strip()]
        return [float(v) for v in spec]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be numbers, got {spec!r}") from None


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"
    data_dir: str | None = None  # folder with the dataset files (real datasets)
    download: bool = False  # never download unless asked
    split_seed: int = 0  # fixes the train / validation / test split
    augment: str = "none"  # "none" | "crop_flip" | "crop_flip_cutout"
    options: dict = field(default_factory=dict)  # loader-specific options


@dataclass(frozen=True)
class ModelConfig:
    name: str = "cnn"
    head_init_scale: float = 1.0  # scales the last layer's init: the initial logit norm ‖z₀‖
    options: dict = field(default_factory=dict)  # family-specific keyword arguments


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
    device: str = "auto"  # "auto" | "cpu" | "cuda"
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
    adv_options: dict = field(default_factory=dict)


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


@dataclass(frozen=True)
class EvalConfig:
    run: list = field(default_factory=lambda: ["all"])  # names of evaluations, or ["all"]
    batch_size: int = 512
    baseline_temperature: float = 1.0  # reference member for relative metrics (mCE)
    calibration: dict = field(default_factory=dict)
    corruption: dict = field(default_factory=dict)
    adversarial: dict = field(default_factory=dict)
    gradients: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)
    logits: dict = field(default_factory=dict)
    dynamics: dict = field(default_factory=dict)  # sweep-level early-learning study


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

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


def _coerce(section: str, key: str, value: Any, default: Any, annotation: Any) -> Any:
    """Check/convert ``value`` to the type of the field's default; ConfigError if impossible."""
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
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        raise ConfigError(f"{where} must be a list of evaluation names, got {value!r}")
    ann = str(annotation)
    if value is None:
        if "None" in ann:
            return None
        raise ConfigError(f"{where} cannot be empty")
    if isinstance(default, bool) or ann == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if isinstance(default, int) or ann.startswith("int"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if isinstance(default, float) or ann.startswith("float"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(f"{where} must be finite, got {value!r}")
            return value
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if isinstance(default, str) or ann.startswith("str"):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return tuple(value)
    return value


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
        defaults = cls()
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"unknown config key {name}.{key}; known: {', '.join(sorted(known))}"
                )
            kwargs[key] = _coerce(name, key, value, getattr(defaults, key), hints[key])
        sections[name] = cls(**kwargs)
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


def read_yaml(path: str | Path) -> dict:
    """Read a YAML config file into a mapping; missing or malformed files are ConfigErrors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"malformed YAML in {path}{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the defaults) and apply ``section.key=value`` overrides."""
    raw = read_yaml(path) if path is not None else {}
    for text in overrides or []:
        key, value = parse_override(text)
        set_dotted(raw, key, value)
    return from_dict(raw)
