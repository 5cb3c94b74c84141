"""Experiment trackers: each member's per-epoch metrics to TensorBoard and/or MLflow.

Off by default; ``sweep.trackers`` (``--tracker tensorboard,mlflow``) turns them on. Both are
optional extras (``pip install 'tempcheck[trackers]'``); asking for one that is not installed
is a one-line error before anything is written (``check_trackers``).

- ``tensorboard``: one event-file directory per member, ``OUT/tensorboard/<group>/<member>``
  with ``<member>`` like ``m3-tau10-seed0`` — TensorBoard's run selector then lists every member,
  and ``tensorboard --logdir OUT/tensorboard`` shows them side by side. Scalars are the
  metrics.jsonl keys (``train_loss``, ``test_acc``, ``logit_norm``, ...), step = epoch (1-based).
- ``mlflow``: a file store at ``OUT/mlruns`` (``mlflow ui --backend-store-uri OUT/mlruns``), one
  experiment per run folder, one MLflow run per member, named like the TensorBoard directory,
  with the member's τ, seed, learning rate and group as parameters and the same metrics.

A tracker only mirrors what metrics.jsonl already holds: the run folder stays the record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from .errors import ConfigError

TRACKERS = ("tensorboard", "mlflow")
_MODULES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
# metrics.jsonl keys that are not per-member metrics
_NOT_METRICS = {"epoch", "seconds", "status"}


def check_trackers(names: Sequence[str]) -> None:
    """Unknown or uninstalled trackers → ConfigError (before a sweep writes anything)."""
    import importlib.util

    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"unknown tracker {name!r}; known: {', '.join(TRACKERS)}")
        if importlib.util.find_spec(_MODULES[name]) is None:
            raise ConfigError(f"the {name} tracker needs the {name} package: "
                              f"pip install 'tempcheck[trackers]'")


def member_label(k: int, temperature: float, seed: int) -> str:
    return f"m{k}-tau{temperature:g}-seed{seed}"


def epoch_metrics(record: dict, k: int) -> dict[str, float]:
    """Member ``k``'s finite scalar metrics from one metrics.jsonl record."""
    out = {}
    for key, value in record.items():
        if key in _NOT_METRICS or not isinstance(value, list) or k >= len(value):
            continue
        v = value[k]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = float(v)
    return out


class _TensorBoard:
    def __init__(self, root: Path, group: str, labels: list[str]):
        from torch.utils.tensorboard import SummaryWriter

        self.writers = [SummaryWriter(log_dir=str(root / "tensorboard" / group / label))
                        for label in labels]

    def log(self, k: int, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.writers[k].add_scalar(key, value, global_step=step)
        self.writers[k].flush()

    def close(self) -> None:
        for w in self.writers:
            w.close()


class _MLflow:
    def __init__(self, root: Path, group: str, labels: list[str], params: list[dict]):
        import os

        # MLflow 3 keeps the file store (a folder, no database) only on request; it is what a
        # self-contained run folder needs, and the store the mlflow-skinny client ships
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=(root / "mlruns").resolve().as_uri())
        name = root.resolve().name
        experiment = self.client.get_experiment_by_name(name)
        exp_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        self.runs = []
        for label, p in zip(labels, params):
            run = self.client.create_run(exp_id, run_name=f"{group}/{label}",
                                         tags={"tempcheck.group": group})
            for key, value in p.items():
                self.client.log_param(run.info.run_id, key, value)
            self.runs.append(run.info.run_id)

    def log(self, k: int, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.client.log_metric(self.runs[k], key, value, step=step)

    def close(self) -> None:
        for run_id in self.runs:
            self.client.set_terminated(run_id)


class Trackers:
    """The trackers of one group: ``log_record(record)`` after each epoch, ``close()`` at the end.

    Args:
        names: trackers to open (subset of ``TRACKERS``); empty = a no-op.
        root: the run folder. group: the group's name.
        members: per member (temperature, seed, lr).
    """

    def __init__(self, names: Sequence[str], root: str | Path, group: str,
                 members: Sequence[tuple[float, int, float]]):
        check_trackers(names)
        root = Path(root)
        labels = [member_label(k, t, s) for k, (t, s, _) in enumerate(members)]
        params = [{"temperature": t, "seed": s, "lr": lr, "group": group}
                  for t, s, lr in members]
        self.backends = []
        if "tensorboard" in names:
            self.backends.append(_TensorBoard(root, group, labels))
        if "mlflow" in names:
            self.backends.append(_MLflow(root, group, labels, params))
        self.n = len(members)

    def log_record(self, record: dict) -> None:
        step = int(record.get("epoch", 0)) + 1
        for k in range(self.n):
            metrics = epoch_metrics(record, k)
            for b in self.backends:
                b.log(k, step, metrics)

    def close(self) -> None:
        for b in self.backends:
            b.close()
