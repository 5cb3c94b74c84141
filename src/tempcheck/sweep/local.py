"""The local executor: run groups one after another in this process, with retries.

A group that raises is retried up to ``retries`` more times (resuming from its last checkpoint);
a group that fails for good is recorded as ``failed`` (with its error) and the sweep goes on.
User errors (``TempcheckError``) are not retried: they would fail again the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..errors import TempcheckError
from ..progress import NullProgress, Progress
from .evaluations import Evaluation
from .group import GroupOutcome, failed_outcome, format_exception, run_group
from .plan import Group
from .store import atomic_write_text


def run_local(
    root: Path, config: Config, groups: list[Group], evaluations: list[Evaluation], *,
    resume: bool, progress: Progress | None = None,
    on_group_done: Callable[[GroupOutcome], None] | None = None,
) -> list[GroupOutcome]:
    progress = progress or NullProgress()
    outcomes = []
    for i, group in enumerate(groups, 1):
        progress.log(f"[{i}/{len(groups)}] group {group.name}")
        attempt, outcome = 0, None
        while outcome is None:
            try:
                # retries resume from the group's checkpoint, whatever the sweep's --resume
                outcome = run_group(root, config, group, evaluations,
                                    resume=resume or attempt > 0, progress=progress)
            except TempcheckError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failing group must not stop the sweep
                attempt += 1
                log = Path(root) / "groups" / group.name / f"error-{attempt}.txt"
                atomic_write_text(log, format_exception(exc))
                if attempt > config.sweep.retries:
                    progress.log(f"group {group.name} failed for good: {exc} (see {log})")
                    outcome = failed_outcome(group, config, exc)
                else:
                    progress.log(f"group {group.name} failed ({exc}); retry {attempt}")
        outcomes.append(outcome)
        if on_group_done is not None:
            on_group_done(outcome)
    return outcomes
