"""Crash safety: a sweep killed with SIGKILL mid-epoch, then resumed, gives the same results as
an uninterrupted sweep, and no file in the run folder is ever truncated or unparseable."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow

ARGS = ["--temperatures", "0.5,2,8", "--seeds", "0,1", "--epochs", "8", "--eval", "clean",
        "--model.options.widths=[8,16,16]", "--train.checkpoint_every=1", "--no-report"]


def _tempcheck(out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    code = "import torch, sys; torch.set_num_threads(1); from tempcheck.cli import main; " \
           "sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, "sweep", "--out", str(out), *ARGS,
                             *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _parse(path: Path) -> None:
    """Parse a run-folder file completely; raises if it is truncated or corrupt."""
    data = path.read_bytes()
    if path.suffix == ".json":
        json.loads(data)
    elif path.suffix == ".jsonl":
        assert data.endswith(b"\n") or not data
        for line in data.decode().splitlines():
            json.loads(line)
    elif path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        assert rows
    elif path.suffix == ".npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            for k in npz.files:
                npz[k]
    elif path.suffix == ".pt":
        torch.load(io.BytesIO(data), weights_only=True)


class Reader(threading.Thread):
    """Reads every file of the run folder over and over while the sweep runs."""

    def __init__(self, root: Path):
        super().__init__(daemon=True)
        self.root, self.stop, self.errors, self.reads = root, threading.Event(), [], 0

    def run(self):
        while not self.stop.is_set():
            for path in list(self.root.rglob("*")) if self.root.exists() else []:
                if path.name.startswith(".") or not path.is_file():
                    continue  # temporary files are never the published name
                try:
                    _parse(path)
                    self.reads += 1
                except FileNotFoundError:
                    pass  # replaced between listing and reading
                except Exception as exc:  # noqa: BLE001
                    self.errors.append(f"{path}: {type(exc).__name__}: {exc}")


def _results(root: Path) -> list[dict]:
    with open(root / "results.csv") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: (r["group"], int(r["member"])))


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    full = _tempcheck(tmp_path / "full")
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()[-2000:]

    out = tmp_path / "crashed"
    reader = Reader(out)
    reader.start()
    proc = _tempcheck(out)
    metrics = out / "groups" / "seed1" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:  # kill during the second group's training
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 3:
            time.sleep(0.15)  # somewhere inside the next epoch
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "results.csv").exists()
    resumed = _tempcheck(out, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    reader.stop.set()
    reader.join(timeout=10)
    assert reader.errors == [], reader.errors[:5]
    assert reader.reads > 20
    assert b"resuming after epoch" in resumed.stderr.read()
    a, b = _results(tmp_path / "full"), _results(out)
    assert len(a) == len(b) == 6
    for ra, rb in zip(a, b):
        for col in ("status", "test_acc", "test_nll", "test_ece", "test_brier", "val_acc"):
            assert ra[col] == rb[col], (col, ra, rb)
