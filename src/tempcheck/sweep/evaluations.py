"""The evaluations a sweep can run: :mod:`tempcheck.evaluations` (kept importable here)."""

from ..evaluations import Evaluation, available, by_name, run_function, select

__all__ = ["Evaluation", "available", "by_name", "run_function", "select"]
