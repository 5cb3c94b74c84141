"""The one list of evaluations, found where they are declared.

Every module of ``tempcheck.eval`` and ``tempcheck.analysis`` that defines
``EVALUATION = Evaluation(...)`` (:class:`tempcheck.eval.base.Evaluation`: name, run order,
options class, results columns, report section) is an evaluation; this module finds them and
orders them. Adding an evaluation therefore touches its own module and its report section and
nothing else. ``image_only`` evaluations are skipped (and say so) for text datasets.

It sits with the recipe layer, above the stages whose modules it reads and below the sweep and
the report, which both use it.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from .config import Config
from .errors import ConfigError, UnknownNameError
from .eval.base import Evaluation

PACKAGES = ("tempcheck.eval", "tempcheck.analysis")


@functools.lru_cache(maxsize=1)
def _discover() -> tuple[Evaluation, ...]:
    found: dict[str, Evaluation] = {}
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package_name}.{info.name}")
            ev = getattr(module, "EVALUATION", None)
            if not isinstance(ev, Evaluation):
                continue
            if ev.name in found:
                raise RuntimeError(f"two evaluations are called {ev.name!r}: "
                                   f"{found[ev.name].module} and {module.__name__}")
            runner = "run" if ev.scope == "group" else "run_study"
            if not callable(getattr(module, runner, None)):
                raise RuntimeError(f"{module.__name__} declares {ev.name!r} but has no {runner}()")
            found[ev.name] = Evaluation(**{**ev.__dict__, "module": module.__name__})
    return tuple(sorted(found.values(), key=lambda e: (e.order, e.name)))


def available() -> list[Evaluation]:
    """Every evaluation, in run order (``clean`` first)."""
    return list(_discover())


def by_name(name: str) -> Evaluation:
    for ev in _discover():
        if ev.name == name:
            return ev
    known = ", ".join(ev.name for ev in _discover())
    raise UnknownNameError(f"unknown evaluation {name!r}; available: {known}")


def select(names: list[str] | tuple[str, ...]) -> list[Evaluation]:
    """Resolve ``--eval`` names ("all" = every evaluation, "none" = only ``clean``), in run
    order; ``clean`` always runs."""
    avail = {ev.name: ev for ev in _discover()}
    wanted: set[str] = {"clean"}
    for name in names or ["all"]:
        if name == "all":
            wanted.update(avail)
        elif name == "none":
            continue
        elif name in avail:
            wanted.add(name)
        else:
            known = ", ".join(["all", "none", *avail])
            raise UnknownNameError(f"unknown evaluation {name!r}; available: {known}")
    return [ev for ev in _discover() if ev.name in wanted]


def run_function(ev: Evaluation):
    """``run(ctx)`` of a group evaluation, ``run_study`` of a sweep-level one."""
    module = importlib.import_module(ev.module)
    return module.run if ev.scope == "group" else module.run_study


def parse_evaluation_options(ev: Evaluation, config: Config):
    """``config.eval.<name>`` parsed by the evaluation's options class (None without one)."""
    from .config import parse_options

    given = config.eval.options_for(ev.name)
    if ev.options is None:
        if given:
            raise ConfigError(f"unknown option eval.{ev.name}.{sorted(given)[0]}; "
                              f"{ev.name} takes no options")
        return None
    return parse_options(ev.options, given, f"eval.{ev.name}")


def check_evaluation_options(config: Config) -> None:
    """Every ``eval.<name>`` mapping names an evaluation and parses; the selected ones run."""
    names = {ev.name for ev in _discover()}
    for name in config.eval.options:
        if name not in names:
            raise ConfigError(f"unknown config key eval.{name}; known: run, batch_size, "
                              f"baseline_temperature and the evaluations {', '.join(sorted(names))}")
    for ev in _discover():
        parse_evaluation_options(ev, config)


__all__ = ["Evaluation", "available", "by_name", "check_evaluation_options",
           "parse_evaluation_options", "run_function", "select"]
