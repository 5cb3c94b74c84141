"""The Ray executor: same numbers as the local executor; a killed worker is retried."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from tempcheck.config import load_config
from tempcheck.progress import Progress
from tempcheck.sweep.run import run_sweep

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ray = pytest.importorskip("ray")

FOUR_GROUPS = ["train.epochs=2", "model.options.widths=[8, 8, 8]", "eval.run=[clean]",
               "sweep.temperatures=[0.5, 4.0]", "sweep.seeds=[0, 1, 2, 3]",
               "train.checkpoint_every=1"]


@pytest.fixture(scope="module")
def local_ray():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _numbers(rows):
    return sorted((r["group"], r["member"], r["status"], r["test_acc"], round(r["test_nll"], 5))
                  for r in rows)


def test_ray_sweep_equals_local_sweep(local_ray, tmp_path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ray tasks use cpus_per_bank = 1 thread: same arithmetic
    try:
        local_rows, _ = run_sweep(load_config(None, FOUR_GROUPS), tmp_path / "local")
    finally:
        torch.set_num_threads(threads)
    ray_rows, root = run_sweep(load_config(None, FOUR_GROUPS + ["sweep.backend=ray"]),
                               tmp_path / "ray")
    assert len(ray_rows) == 8
    assert _numbers(ray_rows) == _numbers(local_rows)
    assert (root / "results.csv").is_file()


def test_killed_worker_is_retried_and_sweep_completes(local_ray, tmp_path):
    out = tmp_path / "killed"
    cfg = load_config(None, ["train.epochs=20", "model.options.widths=[8, 8, 8]",
                             "eval.run=[clean]", "sweep.temperatures=[1.0]", "sweep.seeds=[0]",
                             "sweep.backend=ray", "sweep.retries=2", "train.checkpoint_every=1"])
    killed = {}

    def killer():
        worker = out / "groups" / "seed0" / "worker.json"
        metrics = out / "groups" / "seed0" / "metrics.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline:
            if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
                pid = json.loads(worker.read_text())["pid"]
                os.kill(pid, signal.SIGKILL)
                killed["pid"] = pid
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    rows, root = run_sweep(cfg, out)
    t.join(timeout=1)
    assert "pid" in killed, "the worker was never killed"
    assert [r["status"] for r in rows] == ["ok"]
    assert json.loads((root / "groups" / "seed0" / "worker.json").read_text())["pid"] != killed["pid"]
    lines = (root / "groups" / "seed0" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(20))


def test_missing_ray_gives_install_hint(monkeypatch):
    import builtins

    from tempcheck.errors import TempcheckError
    from tempcheck.sweep import ray as ray_backend

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(TempcheckError, match=r"pip install 'tempcheck\[ray\]'"):
        ray_backend.import_ray()


def test_unreachable_cluster_is_a_one_line_error_before_anything_is_written(tmp_path):
    from tempcheck.errors import TempcheckError

    cfg = load_config(None, FOUR_GROUPS + ["sweep.backend=ray", "sweep.ray_address=127.0.0.1:1"])
    with pytest.raises(TempcheckError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        run_sweep(cfg, tmp_path / "never")
    assert not (tmp_path / "never").exists()


class _Lines(Progress):
    def __init__(self):
        self.lines = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def test_ray_tune_equals_local_tune_and_reports_its_tasks(local_ray, tmp_path):
    import torch

    from tempcheck.tune import TuneOptions, run_tune

    args = ["sweep.temperatures=[0.3,1,3,10]", "train.epochs=4", "sweep.seeds=[0, 1]",
            "eval.run=[none]", "model.options.widths=[4,8,16]"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tasks' thread count: the same arithmetic
    try:
        local = run_tune(load_config("configs/digits_cnn.yaml", args), tmp_path / "local",
                         TuneOptions(budget=0.5))
    finally:
        torch.set_num_threads(threads)
    lines = _Lines()
    remote = run_tune(load_config("configs/digits_cnn.yaml", args + ["sweep.backend=ray"]),
                      tmp_path / "ray", TuneOptions(budget=0.5), progress=lines)
    assert remote["temperature"] == local["temperature"]
    assert remote["member_epochs"] == local["member_epochs"]
    for a, b in zip(remote["seeds"], local["seeds"]):
        assert a["seed"] == b["seed"] and a["dropped"] == b["dropped"]
        assert a["curves"]["val_acc"] == b["curves"]["val_acc"]
    assert "ray: 2 tune task(s) submitted, 2 CPUs in the cluster" in lines.lines
    assert sum(line.startswith("ray: tune seed") and "finished" in line
               for line in lines.lines) == 2
    # every seed left the status its driver polls: the last epoch it trained
    for seed in (0, 1):
        status = json.loads((tmp_path / "ray" / f"seed{seed}" / "status.json").read_text())
        assert status["epochs"] == 4 and status["members"] == 1
