"""The Ray executor: one Ray task per group (bank), on a local instance or an existing cluster.

- Each task declares its needs (``sweep.cpus_per_bank``, ``sweep.gpus_per_bank``; fractional
  GPUs let several small banks share one device) and writes into the shared run folder, so
  on a cluster OUT must be on a filesystem every node sees.
- A task whose worker dies (killed, node lost) is retried by Ray up to ``sweep.retries`` times;
  a retried task resumes from the group's last checkpoint. An exception inside a task is retried
  the same number of times in the task itself (as the local executor does); a group that fails
  for good is recorded as ``failed`` with its error and the sweep goes on.
- Ray is an optional extra (``pip install 'tempcheck[ray]'``). Usage statistics are off and auth
  token files are not written (``RAY_USAGE_STATS_ENABLED=0``, ``RAY_AUTH_MODE=disabled``); Ray
  writes only to its own temp dir.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, from_dict
from ..errors import TempcheckError
from ..progress import NullProgress, Progress
from .evaluations import Evaluation
from .group import GroupOutcome, failed_outcome, run_group
from .plan import Group

INSTALL_HINT = "the ray backend needs Ray: pip install 'tempcheck[ray]'"


def import_ray():
    """Import Ray with telemetry off, or raise a one-line install hint."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray
    except ImportError:
        raise TempcheckError(INSTALL_HINT) from None
    return ray


def _group_task(root: str, config_dict: dict, group_dict: dict, eval_names: list[str],
                threads: int) -> dict:
    """Body of one Ray task: run the group (with local retries for exceptions).

    ``resume=True``: a task retried after its worker died continues from the group's
    checkpoint; a fresh group has none, so this is also right for a first attempt."""
    import torch

    from .evaluations import select
    from .local import run_local

    torch.set_num_threads(max(1, threads))
    outcome = run_local(Path(root), from_dict(config_dict), [Group.from_dict(group_dict)],
                        select(eval_names), resume=True)[0]
    return {"name": outcome.name, "rows": outcome.rows, "tables": outcome.tables,
            "skipped": outcome.skipped}


def connect(config: Config) -> bool:
    """Start a local Ray instance or join ``sweep.ray_address`` (before anything is written);
    returns whether this call started Ray (so the caller shuts it down). An address nobody
    listens on is a one-line error at once (Ray itself would retry it for minutes)."""
    ray = import_ray()
    if config.sweep.ray_address:
        _check_reachable(config.sweep.ray_address)
    if ray.is_initialized():
        return False
    kwargs = {"include_dashboard": False, "log_to_driver": False}
    try:
        if config.sweep.ray_address:
            ray.init(address=config.sweep.ray_address, **kwargs)
        else:
            ray.init(**kwargs)
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user needs one line
        where = config.sweep.ray_address or "a local instance"
        raise TempcheckError(f"cannot start or reach Ray ({where}): "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                             ) from None
    return True


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """TCP-connect to ``host:port`` of a Ray address (``ray://host:port`` or ``host:port``)."""
    import socket

    target = address.split("://", 1)[-1]
    if target in ("auto", "local") or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as exc:
        raise TempcheckError(f"cannot reach the Ray cluster at {address}: {exc}") from None


POLL_SECONDS = 30.0  # how often the driver looks at the running groups' files


def running_status(root: Path, groups: list[Group], epochs: int) -> str:
    """``"seed0 epoch 3/8, seed1 evaluating"``: each running group's last logged epoch
    (``groups/<name>/metrics.jsonl``, one line per epoch) or "evaluating" once its training is
    done (``done.json``). Tasks log nothing to the driver, so this is their progress; groups
    whose folder this machine cannot see (a cluster without a shared disk) are left out."""
    parts = []
    for group in groups:
        gdir = root / "groups" / group.name
        if (gdir / "done.json").is_file():
            parts.append(f"{group.name} evaluating")
        elif (gdir / "metrics.jsonl").is_file():
            with open(gdir / "metrics.jsonl", "rb") as f:
                done = sum(1 for line in f if line.strip())
            parts.append(f"{group.name} epoch {done}/{epochs}")
        elif gdir.is_dir():
            parts.append(f"{group.name} starting")
    return ", ".join(parts)


@dataclass(frozen=True)
class RemoteJob:
    """One Ray task to run: ``name`` for the log, ``args`` for the task function."""

    name: str
    args: tuple


def run_remote(config: Config, fn: Callable[..., Any], jobs: list[RemoteJob], *,
               progress: Progress, status: Callable[[list[str]], str], kind: str
               ) -> dict[str, Any]:
    """Run ``fn(*job.args)`` for every job as a Ray task with the sweep's resources and retries
    (``sweep.cpus_per_bank``, ``gpus_per_bank``, ``retries``), on the instance ``connect``
    starts or joins (shut down again if started here).

    While nothing finishes, every ``POLL_SECONDS`` the driver logs ``status(running names)``
    (tasks log nothing to the driver; the status reads their files) when it changed. Returns
    ``{name: result}``; a task that failed for good (its worker died beyond its retries) maps
    to the exception, so the caller decides what a failure means."""
    ray = import_ray()
    started_here = connect(config)
    try:
        task = ray.remote(fn).options(
            num_cpus=config.sweep.cpus_per_bank, num_gpus=config.sweep.gpus_per_bank,
            max_retries=config.sweep.retries, retry_exceptions=False,
        )
        refs = {task.remote(*job.args): job.name for job in jobs}
        results: dict[str, Any] = {}
        if not refs:
            return results
        progress.log(f"ray: {len(refs)} {kind} task(s) submitted, "
                     f"{ray.cluster_resources().get('CPU', 0):g} CPUs in the cluster")
        remaining, last_status = list(refs), None
        while remaining:
            ready, remaining = ray.wait(remaining, num_returns=1, timeout=POLL_SECONDS)
            if not ready:  # nothing finished yet: say how far the running tasks are
                line = status([refs[r] for r in remaining])
                if line and line != last_status:
                    progress.log(f"ray: {line}")
                last_status = line
                continue
            name = refs[ready[0]]
            try:
                results[name] = ray.get(ready[0])
                progress.log(f"ray: {kind} {name} finished ({len(results)}/{len(refs)})")
            except Exception as exc:  # noqa: BLE001 - worker died beyond its retries
                progress.log(f"ray: {kind} {name} failed for good: {exc}")
                results[name] = exc
        return results
    finally:
        if started_here:
            ray.shutdown()


def run_ray(
    root: Path, config: Config, groups: list[Group], evaluations: list[Evaluation], *,
    resume: bool, progress: Progress | None = None,
) -> list[GroupOutcome]:
    """Run every group as a Ray task; returns outcomes in plan order."""
    progress = progress or NullProgress()
    import_ray()  # the install hint before anything runs
    outcomes: dict[str, GroupOutcome] = {}
    jobs, by_name = [], {g.name: g for g in groups}
    names = [ev.name for ev in evaluations]
    threads = max(1, int(config.sweep.cpus_per_bank))
    config_dict = config.to_dict()
    for group in groups:
        if resume and (Path(root) / "groups" / group.name / "done.json").is_file():
            outcomes[group.name] = run_group(root, config, group, evaluations, resume=True)
            continue
        jobs.append(RemoteJob(group.name, (str(root), config_dict, group.to_dict(), names,
                                           threads)))
    results = run_remote(
        config, _group_task, jobs, progress=progress, kind="group",
        status=lambda running: running_status(Path(root), [by_name[n] for n in running],
                                              config.train.epochs))
    for name, result in results.items():
        if isinstance(result, Exception):
            outcomes[name] = failed_outcome(by_name[name], config, result)
        else:
            outcomes[name] = GroupOutcome(result["name"], result["rows"], result["tables"],
                                          result["skipped"])
    return [outcomes[g.name] for g in groups]
