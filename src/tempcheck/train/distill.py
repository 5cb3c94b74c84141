"""Distil a trained sweep member into a student bank, one member per distillation temperature T
(Hinton, Vinyals, Dean 2015; docs/theory.md §7).

- :func:`find_teacher` picks one member of a run folder by its training τ and seed (the group's
  ``config.json`` lists the members, ``checkpoint.pt`` holds the bank's weights).
- :func:`load_teacher_model` rebuilds that member alone (K = 1) from the bank checkpoint
  (``torch.load(weights_only=True)``), as ``BankModel.member_state(k)`` would extract it.
- :func:`distill` trains a student bank on the same training split with
  :class:`~tempcheck.train.objectives_extra.DistillationObjective` and evaluates every member on
  the test split at temperature 1 (how a distilled student predicts).
- :func:`run_distill` is the ``tempcheck distill`` command: it does all of the above and writes
  an output folder (``distill.csv``, ``results.csv``, ``metrics.jsonl``, ``checkpoint.pt``,
  ``distill.json``, ``report.md`` with ``figures/``).

The teacher's soft targets are its own predictive distribution: logits z_t / τ_t, so T = 1
distils exactly what the teacher predicts and larger T softens it further. The student members
all share one init seed and see the same batches, so they differ only by T (and α). With
``baseline=True`` one extra member trains on the labels alone (α = 1), the reference a
distillation gain is measured against.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .. import metrics
from ..config import Config, from_dict
from ..data.base import DatasetSplits, as_float
from ..errors import ConfigError, RunFolderError
from ..progress import NullProgress, Progress
from ..registry import create_model, load_dataset
from .loop import FitOptions, History, fit
from .objectives_extra import DistillationObjective

_COMPILED_PREFIX = "_orig_mod."  # state-dict keys of a torch.compile'd bank

DISTILL_COLUMNS = [
    "role", "member", "distill_temperature", "alpha", "test_acc", "test_nll", "test_ece",
    "test_brier", "agreement", "status", "final_train_acc", "dataset", "model", "epochs", "lr",
    "student_seed", "teacher_group", "teacher_member", "teacher_temperature", "teacher_seed",
    "train_seconds",
]
RESULT_COLUMNS = [
    "group", "member", "dataset", "model", "temperature", "seed", "lr", "epochs", "status",
    "test_acc", "test_nll", "test_ece", "test_brier", "alpha", "agreement",
    "teacher_temperature", "teacher_seed", "teacher_test_acc", "final_train_acc",
    "train_seconds",
]


@dataclass(frozen=True)
class TeacherRef:
    """One trained member of a run folder."""

    run_dir: Path
    group: str
    member: int  # index in its bank
    members: int  # K of its bank
    temperature: float
    seed: int
    base_lr: float
    config: Config


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"cannot read {path}: {exc}") from None


def find_teacher(run_dir: str | Path, *, temperature: float | None = None,
                 seed: int | None = None, group: str | None = None) -> TeacherRef:
    """The member of ``run_dir`` trained at ``temperature`` with init ``seed`` (either may be
    omitted when it leaves a single candidate; ``group`` restricts to one group)."""
    root = Path(run_dir)
    configs = sorted((root / "groups").glob("*/config.json"))
    if group is not None:
        configs = [p for p in configs if p.parent.name == group]
    if not configs:
        raise RunFolderError(f"{root} holds no trained group (groups/<group>/config.json)")
    found, available = [], []
    for path in configs:
        saved = _read_json(path)
        members = saved["group"]["members"]
        for k, m in enumerate(members):
            available.append(f"τ={m['temperature']:g}/seed {m['seed']} ({path.parent.name})")
            if temperature is not None and not math.isclose(m["temperature"], temperature,
                                                            rel_tol=1e-6):
                continue
            if seed is not None and int(m["seed"]) != int(seed):
                continue
            found.append((path.parent.name, k, len(members), m, saved["config"]))
    if len(found) != 1:
        what = "no member" if not found else f"{len(found)} members"
        raise RunFolderError(
            f"{what} of {root} match τ={temperature}, seed={seed}; "
            f"choose one of: {', '.join(available[:12])}"
        )
    name, k, size, m, config = found[0]
    return TeacherRef(root, name, k, size, float(m["temperature"]), int(m["seed"]),
                      float(m.get("base_lr", m.get("lr", 0.0))), from_dict(config))


def model_kwargs(config: Config, data: DatasetSplits) -> dict:
    """Family keywords for ``data``, as a sweep builds them (image or text datasets)."""
    kwargs = dict(config.model.options)
    if data.kind == "image":
        kwargs.update(data.model_kwargs())
    else:
        kwargs.update(num_classes=data.num_classes, **data.extra.get("model_kwargs", {}))
    return kwargs


def load_teacher_model(ref: TeacherRef, data: DatasetSplits,
                       device: torch.device | str = "cpu") -> torch.nn.Module:
    """Member ``ref.member`` of the group's ``checkpoint.pt`` as a K = 1 bank in eval mode."""
    path = ref.run_dir / "groups" / ref.group / "checkpoint.pt"
    if not path.is_file():
        raise RunFolderError(f"teacher checkpoint {path} does not exist (did the group train?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable / unsafe file is a user error
        raise RunFolderError(f"cannot load teacher checkpoint {path}: {exc}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise RunFolderError(f"{path} is not a tempcheck checkpoint (no 'model' entry)")
    status = (state.get("history") or {}).get("status") or []
    if ref.member < len(status) and status[ref.member] == "diverged":
        raise RunFolderError(f"teacher τ={ref.temperature:g}/seed {ref.seed} diverged during "
                             "training; choose another member")
    member = {}
    for name, t in state["model"].items():
        name = name.removeprefix(_COMPILED_PREFIX)
        banked = t.dim() >= 1 and t.shape[0] == ref.members
        member[name] = t[ref.member : ref.member + 1].clone() if banked else t.clone()
    config = ref.config
    model = create_model(config.model.name, members=1, seeds=[ref.seed],
                         head_init_scale=config.model.head_init_scale,
                         **model_kwargs(config, data))
    try:
        model.load_state_dict(member)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise RunFolderError(f"{path} does not fit model {config.model.name}: {first}") from None
    model.requires_grad_(False)
    return model.to(device).eval()


class FrozenTeacher:
    """``f(x) -> z_t / τ_t`` ``(B, C)`` of a K = 1 teacher bank, in eval mode, without grad."""

    def __init__(self, model: torch.nn.Module, temperature: float):
        self.model, self.temperature = model.eval(), float(temperature)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, 0].float() / self.temperature


@dataclass
class DistillOutcome:
    """What :func:`distill` returns: one row per student member (``role`` student or baseline)
    and one for the teacher, the students' training history, and the student bank."""

    rows: list[dict]
    history: History
    student: torch.nn.Module
    teacher_metrics: dict = field(default_factory=dict)


@torch.no_grad()
def _logits(model: Callable, x: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """Model outputs on ``x`` in batches, float32 on the CPU."""
    out = [model(as_float(x[lo : lo + batch_size].to(device))).float().cpu()
           for lo in range(0, x.shape[0], batch_size)]
    return torch.cat(out)


def distill(
    teacher: FrozenTeacher, data: DatasetSplits, *, model_name: str, model_options: dict,
    temperatures: Sequence[float], alpha: float, lr: float, options: FitOptions,
    head_init_scale: float = 1.0, student_seed: int = 0, data_seed: int = 0,
    baseline: bool = True, augment=None, device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> DistillOutcome:
    """Train a student bank (member k distilled at ``temperatures[k]``, plus a labels-only
    baseline member when ``baseline``) and evaluate it on ``data.test`` at temperature 1.

    Args:
        model_options: family keywords (e.g. ``model_kwargs(config, data)``).
        alpha: hard-label weight α of every distilled member.
        lr: base learning rate of every member (T² keeps the gradient scale comparable).
        options: training options (epochs, optimiser, schedule ...).
    """
    taus = [float(t) for t in temperatures]
    if not taus:
        raise ConfigError("give at least one distillation temperature")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"distillation alpha must be in [0, 1], got {alpha}")
    k = len(taus) + int(baseline)
    distill_t = taus + [1.0] * int(baseline)
    alphas = [float(alpha)] * len(taus) + [1.0] * int(baseline)
    device = torch.device(device)
    student = create_model(model_name, members=k, seeds=[student_seed] * k,
                           head_init_scale=head_init_scale, **model_options).to(device)
    objective = DistillationObjective(teacher, distill_t, torch.tensor(alphas))
    history = fit(student, data.to(device), temperatures=torch.ones(k), lrs=[lr] * k,
                  options=options, seed=data_seed, augment=augment,
                  progress=progress or NullProgress(), objective=objective)
    student.eval()
    y = data.test.y
    z_s = _logits(student, data.test.x, options.eval_batch_size, device)  # (N, K, C)
    z_t = _logits(teacher, data.test.x, options.eval_batch_size, device)  # (N, C), z/τ_t
    s = metrics.summary(z_s, y)
    t = metrics.summary(z_t.unsqueeze(1), y)
    agreement = (z_s.argmax(-1) == z_t.argmax(-1, keepdim=True)).float().mean(0)
    final_acc = history.last("train_acc") or [None] * k
    rows = []
    for m in range(k):
        is_base = baseline and m == k - 1
        rows.append({
            "role": "baseline" if is_base else "student", "member": m,
            "distill_temperature": "" if is_base else distill_t[m], "alpha": alphas[m],
            "test_acc": float(s["acc"][m]), "test_nll": float(s["nll"][m]),
            "test_ece": float(s["ece"][m]), "test_brier": float(s["brier"][m]),
            "agreement": float(agreement[m]), "status": history.status[m],
            "final_train_acc": final_acc[m], "epochs": options.epochs, "lr": lr,
            "student_seed": student_seed, "train_seconds": round(history.seconds, 3),
        })
    teacher_metrics = {key: float(v[0]) for key, v in t.items()}
    rows.append({"role": "teacher", "member": "", "distill_temperature": "", "alpha": "",
                 "test_acc": teacher_metrics["acc"], "test_nll": teacher_metrics["nll"],
                 "test_ece": teacher_metrics["ece"], "test_brier": teacher_metrics["brier"],
                 "agreement": 1.0, "status": "ok"})
    return DistillOutcome(rows, history, student, teacher_metrics)


def _fit_options(config: Config, device: torch.device, epochs: int | None) -> FitOptions:
    """FitOptions of the teacher's recipe (``config.train``), with an optional epoch count."""
    t = config.train
    precision = t.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    return FitOptions(
        epochs=int(epochs) if epochs is not None else t.epochs, batch_size=t.batch_size,
        optimizer=t.optimizer, momentum=t.momentum, nesterov=t.nesterov,
        weight_decay=t.weight_decay, betas=tuple(t.betas), schedule=t.schedule,
        warmup_epochs=t.warmup_epochs, step_epochs=t.step_epochs, step_gamma=t.step_gamma,
        stall_margin=t.stall_margin, eval_every=t.eval_every,
        eval_batch_size=config.eval.batch_size, precision=precision,
    )


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} was asked for but no CUDA device is available")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def _check_out(out: Path, teacher_dir: Path) -> None:
    if out.resolve() == teacher_dir.resolve():
        raise RunFolderError("--out must differ from the teacher's run folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunFolderError(f"{out} is not empty; choose another --out")


def run_distill(
    teacher: str | Path, *, out: str | Path, teacher_temperature: float | None = None,
    teacher_seed: int | None = None, teacher_group: str | None = None,
    temperatures: Sequence[float] = (1.0, 2.0, 4.0, 8.0), alpha: float = 0.1,
    epochs: int | None = None, lr: float | None = None, student_seed: int = 0,
    baseline: bool = True, device: str = "auto", data_dir: str | None = None,
    teacher_logits: str = "tempered", progress: Progress | None = None,
) -> Path:
    """``tempcheck distill``: distil one member of the run folder ``teacher`` into a student
    bank (same family, options, data and training recipe as the teacher's sweep, one member
    per T in ``temperatures``) and write the results into ``out``. Returns ``out``.

    ``lr`` defaults to the teacher's base learning rate; ``epochs`` to its epoch count;
    ``data_dir`` overrides the data folder recorded in the teacher's config (moved data).
    ``teacher_logits``: ``"tempered"`` distils the teacher's predictive distribution (z_t / τ_t,
    the default), ``"raw"`` its raw logits z_t (τ_t ignored).
    Files in ``out``: ``distill.csv`` (one row per student / baseline / teacher, columns
    ``DISTILL_COLUMNS``), ``results.csv`` (students only, sweep-style ``RESULT_COLUMNS`` with
    ``temperature`` = distillation T), ``metrics.jsonl``, ``checkpoint.pt`` (student bank),
    ``distill.json`` (teacher, settings), ``report.md`` and ``figures/``.
    """
    from .. import atomic as store  # writes its folder the way a sweep does

    progress = progress or NullProgress()
    out_dir, teacher_dir = Path(out), Path(teacher)
    _check_out(out_dir, teacher_dir)
    for t in temperatures:
        if not (math.isfinite(float(t)) and float(t) > 0):
            raise ConfigError(f"distillation temperature must be finite and > 0, got {t!r}")
    if teacher_logits not in ("tempered", "raw"):
        raise ConfigError(f"teacher_logits must be tempered or raw, got {teacher_logits!r}")
    dev = _device(device)
    ref = find_teacher(teacher_dir, temperature=teacher_temperature, seed=teacher_seed,
                       group=teacher_group)
    config = ref.config
    if data_dir is not None:
        config = config.replace(data=replace(config.data, data_dir=str(data_dir)))
    d = config.data
    data = load_dataset(d.name, data_dir=d.data_dir, split_seed=d.split_seed, download=False,
                        **d.options)
    model = load_teacher_model(ref, data, dev)
    options = _fit_options(config, dev, epochs)
    augment = None
    if d.augment != "none" and data.kind == "image":
        from ..data.augment import make_augment

        augment = make_augment(d.augment, image_size=data.image_size)
    progress.log(f"distilling τ={ref.temperature:g}/seed {ref.seed} ({ref.group}) into "
                 f"{len(temperatures)} students, T = {', '.join(f'{t:g}' for t in temperatures)}")
    started = time.time()
    teacher_tau = ref.temperature if teacher_logits == "tempered" else 1.0
    outcome = distill(
        FrozenTeacher(model, teacher_tau), data, model_name=config.model.name,
        model_options=model_kwargs(config, data), temperatures=temperatures, alpha=alpha,
        lr=float(lr) if lr is not None else ref.base_lr, options=options,
        head_init_scale=config.model.head_init_scale, student_seed=student_seed,
        data_seed=ref.seed, baseline=baseline, augment=augment, device=dev, progress=progress,
    )
    common = {"dataset": d.name, "model": config.model.name, "teacher_group": ref.group,
              "teacher_member": ref.member, "teacher_temperature": ref.temperature,
              "teacher_seed": ref.seed}
    rows = [{**r, **common} for r in outcome.rows]
    results = [{**r, "group": "distill", "temperature": r["distill_temperature"],
                "seed": r["student_seed"], "teacher_test_acc": outcome.teacher_metrics["acc"]}
               for r in rows if r["role"] == "student"]
    out_dir.mkdir(parents=True, exist_ok=True)
    store.atomic_write_csv(out_dir / "distill.csv", rows, DISTILL_COLUMNS)
    store.atomic_write_csv(out_dir / "results.csv", results, RESULT_COLUMNS)
    store.atomic_write_jsonl(out_dir / "metrics.jsonl", outcome.history.records)
    store.atomic_torch_save(out_dir / "checkpoint.pt", {
        "model": outcome.student.state_dict(), "distill_temperatures": list(temperatures),
        "baseline": baseline})
    store.atomic_write_json(out_dir / "distill.json", {
        "teacher": {"run_dir": str(teacher_dir), "group": ref.group, "member": ref.member,
                    "temperature": ref.temperature, "seed": ref.seed},
        "temperatures": list(temperatures), "alpha": alpha, "baseline": baseline,
        "teacher_logits": teacher_logits,
        "student_seed": student_seed, "epochs": options.epochs,
        "lr": rows[0]["lr"], "device": str(dev), "config": config.to_dict(),
        "wall_seconds": round(time.time() - started, 2),
    })
    write_distill_report(out_dir)
    return out_dir


def write_distill_report(out_dir: Path) -> Path:
    """``report.html`` and ``report.md`` (+ ``figures/``) of a distillation folder: its own
    setup, summary, learning curves and distillation section (``report/section_distill``)."""
    from ..report.build import build_report  # lazy: reporting sits below training

    return build_report(out_dir)[1]


__all__ = ["DistillOutcome", "FrozenTeacher", "TeacherRef", "distill", "find_teacher",
           "load_teacher_model", "model_kwargs", "run_distill", "write_distill_report"]
