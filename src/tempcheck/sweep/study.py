"""Sweep-level studies: evaluations that run once per sweep rather than once per bank
(``scope="sweep"``; today ``dynamics``, ``analysis/study.py``).

:func:`run_dynamics` runs the dynamics study for a config (the ``dynamics`` command and the
sweep both call it); :func:`run_study` runs any sweep-level evaluation after a sweep's groups.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.study import DynamicsOptions
from ..config import Config
from ..data.base import DatasetSplits
from ..eval.base import StudyContext
from ..evaluations import Evaluation, by_name, run_function
from ..progress import NullProgress, Progress
from ..recipe import study_model_factory


def run_dynamics(root: Path, config: Config, data: DatasetSplits, options: dict,
                 progress: Progress | None = None) -> dict:
    """Run the dynamics study (options: :class:`DynamicsOptions` fields) for the model family
    and data of ``config`` and write dynamics.json / dynamics.npz into ``root``; returns its
    info."""
    return _run(by_name("dynamics"), root, config, data, options, progress or NullProgress())


def _run(ev: Evaluation, root, config, data, options, progress) -> dict:
    ctx = StudyContext(root=Path(root), data=data, model_factory=study_model_factory(config, data),
                       options=dict(options), head_init_scale=config.model.head_init_scale,
                       progress=progress)
    return run_function(ev)(ctx)


def run_study(ev: Evaluation, root: Path, config: Config, data: DatasetSplits,
              progress: Progress | None = None) -> None:
    """Run the sweep-level evaluation ``ev`` with its options ``config.eval.<name>``."""
    progress = progress or NullProgress()
    if ev.image_only and data.kind != "image":
        progress.log(f"{ev.name}: skipped (needs an image dataset; {data.name} is text)")
        return
    with progress.task(f"{ev.name} study", total=None):
        info = _run(ev, root, config, data, config.eval.options_for(ev.name), progress)
    progress.log(f"{ev.name}: {(info.get('seconds') or {}).get('total', '?')} s")


__all__ = ["DynamicsOptions", "run_dynamics", "run_study"]
