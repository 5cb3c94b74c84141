"""The evaluations a sweep can run, by name, in the order they run.

Each entry points at a module with ``run(ctx) -> EvalResult`` (``eval/base.py``). Entries whose
module is not importable are simply unavailable. ``image_only`` evaluations are skipped (and
say so) for text datasets.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import UnknownNameError


@dataclass(frozen=True)
class Evaluation:
    name: str
    module: str
    image_only: bool = False
    summary: str = ""
    scope: str = "group"  # "group": run(ctx) per bank; "sweep": once per sweep (run_study)


EVALUATIONS: tuple[Evaluation, ...] = (
    Evaluation("clean", "tempcheck.eval.clean", summary="test accuracy, NLL, ECE, Brier"),
    Evaluation("calibration", "tempcheck.eval.calibration",
               summary="post-hoc temperature / vector scaling, ECE family"),
    Evaluation("corruption", "tempcheck.eval.corruption", image_only=True,
               summary="19 common corruptions x 5 severities"),
    Evaluation("adversarial", "tempcheck.eval.robustness", image_only=True,
               summary="FGSM / PGD / APGD / Square, masking diagnostics"),
    Evaluation("gradients", "tempcheck.analysis.gradients",
               summary="negative-class gradient balance"),
    Evaluation("logits", "tempcheck.analysis.logits", summary="logit norm, margin, entropy"),
    Evaluation("features", "tempcheck.analysis.features",
               summary="t-SNE / PCA maps, separation, linear probe"),
    Evaluation("dynamics", "tempcheck.sweep.study", scope="sweep",
               summary="early-learning theory vs measurement (once per sweep)"),
)


def _importable(ev: Evaluation) -> bool:
    try:
        module = importlib.import_module(ev.module)
    except ModuleNotFoundError as exc:
        if exc.name and ev.module.startswith(exc.name):
            return False
        raise
    return hasattr(module, "run" if ev.scope == "group" else "run_study")


def available() -> list[Evaluation]:
    """Evaluations whose module exists in this version."""
    return [ev for ev in EVALUATIONS if _importable(ev)]


def select(names: list[str]) -> list[Evaluation]:
    """Resolve ``--eval`` names ("all" = every available one); ``clean`` always runs first."""
    avail = {ev.name: ev for ev in available()}
    wanted: list[str] = []
    for name in names or ["all"]:
        if name == "all":
            wanted.extend(avail)
        elif name == "none":
            continue
        elif name in avail:
            wanted.append(name)
        else:
            known = ", ".join(["all", "none", *avail])
            raise UnknownNameError(f"unknown evaluation {name!r}; available: {known}")
    ordered = [ev for ev in EVALUATIONS if ev.name in set(wanted) | {"clean"}]
    return [ev for ev in ordered if ev.name in avail]


def run_function(ev: Evaluation):
    return importlib.import_module(ev.module).run
