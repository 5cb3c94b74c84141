"""Distil a trained sweep member into a student bank, one member per distillation temperature T
(Hinton, Vinyals, Dean 2015; docs/theory.md §7).

- :func:`find_teacher` picks one member of a run folder by its training τ and seed (the group's
  ``config.json`` lists the members, ``checkpoint.pt`` holds the bank's weights).
- :func:`load_teacher_model` loads that member alone into a fresh K = 1 bank of its family from
  the bank checkpoint (``torch.load(weights_only=True)``, ``models.base.member_state_of``).
- :func:`distill` trains a student bank on the same training split with
  :class:`~tempcheck.train.objectives_extra.DistillationObjective` and evaluates every member on
  the test split at temperature 1 (how a distilled student predicts).

The ``tempcheck distill`` command (``tempcheck.app.distill.run_distill``) builds the models, the
data and the fit options from the teacher's config through the recipe layer and writes the
output folder.

The teacher's soft targets are its own predictive distribution: logits z_t / τ_t, so T = 1
distils exactly what the teacher predicts and larger T softens it further. The student members
all share one init seed and see the same batches, so they differ only by T (and α). With
``baseline=True`` one extra member trains on the labels alone (α = 1), the reference a
distillation gain is measured against.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import metrics
from ..config import Config, from_dict
from ..data.base import DatasetSplits, as_float
from ..errors import ConfigError, RunFolderError
from ..models.base import member_state_of
from ..progress import NullProgress, Progress
from ..registry import create_model
from .loop import FitOptions, History, fit
from .objectives_extra import DistillationObjective

_COMPILED_PREFIX = "_orig_mod."  # state-dict keys of a torch.compile'd bank

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


def load_teacher_model(ref: TeacherRef, model: torch.nn.Module,
                       device: torch.device | str = "cpu") -> torch.nn.Module:
    """Member ``ref.member`` of the group's ``checkpoint.pt`` loaded into ``model`` (a fresh
    K = 1 bank of the teacher's family for its data), frozen, in eval mode on ``device``."""
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
    bank = {name.removeprefix(_COMPILED_PREFIX): t for name, t in state["model"].items()}
    try:
        model.load_state_dict(member_state_of(bank, ref.member, ref.members))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise RunFolderError(f"{path} does not fit model {ref.config.model.name}: "
                             f"{first}") from None
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
        model_options: family keywords (e.g. ``tempcheck.recipe.model_kwargs(config, data)``).
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


__all__ = ["DistillOutcome", "FrozenTeacher", "TeacherRef", "distill", "find_teacher",
           "load_teacher_model"]
