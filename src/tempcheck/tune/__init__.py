"""Choose τ automatically inside one bank: rungs, pruning, objectives (``tempcheck tune``)."""

from .search import TuneOptions, run_tune, tune_seed

__all__ = ["TuneOptions", "run_tune", "tune_seed"]
