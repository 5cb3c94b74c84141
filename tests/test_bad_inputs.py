"""Every bad input in docs/bad-inputs.md, through the real command line.

Each case must end with exit status 2, exactly one line ``error: ...`` on stderr naming what was
wrong, no traceback, and the files that were there before untouched — no output folder, no
``.lock``, no half-written file. The table in docs/bad-inputs.md and the cases here are the same
list (a test checks it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from tempcheck.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad-inputs.md"
TINY = ["--epochs", "1", "--seeds", "0", "--temperatures", "1", "--eval", "clean",
        "--model.options.widths=[8,8,8]"]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple  # "{tmp}" is replaced by the test's folder
    says: str  # the error line contains this
    setup: str | None = None  # name of a function below that prepares {tmp}
    skip: str | None = field(default=None, compare=False)


def sweep(*extra: str) -> tuple:
    return ("sweep", "--out", "{tmp}/out", *TINY, *extra)


def tune(*extra: str) -> tuple:
    return ("tune", "--out", "{tmp}/out", "--epochs", "4", "--seeds", "0", "--temperatures",
            "1,10", "--eval", "none", "--model.options.widths=[8,8,8]", *extra)


CASES = [
    # config values (dotted overrides, flags, YAML)
    Case("optimizer", sweep("--train.optimizer=adam"), "train.optimizer='adam'"),
    Case("schedule", sweep("--train.schedule=cosin"), "train.schedule='cosin'"),
    Case("precision", sweep("--train.precision=fp16"), "train.precision='fp16'"),
    Case("temperature-mode", sweep("--train.temperature_mode=learned"),
         "train.temperature_mode"),
    Case("adv-train", sweep("--train.adv_train=fgsm"), "train.adv_train='fgsm'"),
    Case("adv-option", sweep("--train.adv_train=pgd", "--train.adv_options.epsilon=0.1"),
         "train.adv_options.epsilon"),
    Case("augment", sweep("--data.augment=flip"), "data.augment='flip'"),
    Case("backend", sweep("--sweep.backend=slurm"), "sweep.backend='slurm'"),
    Case("model-option", sweep("--model.options.widthz=[8]"), "model.options.widthz"),
    Case("loader-option", sweep("--dataset", "cifar10", "--data.options.nope=1"),
         "data.options.nope"),
    Case("batch-size-0", sweep("--train.batch_size=0"), "train.batch_size=0"),
    Case("label-smoothing", sweep("--train.label_smoothing=1.5"), "train.label_smoothing=1.5"),
    Case("eval-batch-size-0", sweep("--eval.batch_size=0"), "eval.batch_size=0"),
    Case("epochs-negative", sweep("--epochs", "-2"), "train.epochs=-2"),
    Case("lr-negative", sweep("--train.lr=-0.1"), "train.lr=-0.1"),
    Case("momentum", sweep("--train.momentum=5"), "train.momentum=5"),
    Case("weight-decay", sweep("--train.weight_decay=-1"), "train.weight_decay=-1"),
    Case("lrs-duplicate", sweep("--lrs", "0.1,0.1"), "sweep.lrs lists 0.1 twice"),
    Case("seeds-duplicate", sweep("--seeds", "0,0"), "sweep.seeds lists 0 twice"),
    Case("temperatures-duplicate", sweep("--temperatures", "1,1,10"),
         "sweep.temperatures lists 1.0 twice"),
    Case("temperature-zero", sweep("--temperatures", "0,1"), "temperature"),
    Case("seeds-empty", sweep("--seeds", ""), "sweep.seeds is empty"),
    Case("seed-overflow", sweep("--seeds", "99999999999"), "sweep.seeds=99999999999"),
    Case("split-seed-negative", sweep("--data.split_seed=-1"), "data.split_seed=-1"),
    Case("max-bank-0", sweep("--max-bank", "0"), "sweep.max_bank must be"),
    Case("device-missing", sweep("--device", "cuda:1"), "cuda:1",
         skip="a CUDA device is present" if torch.cuda.is_available() else None),
    Case("device-unknown", sweep("--device", "tpu"), "train.device='tpu'"),
    Case("model-unknown", sweep("--model", "resnet9000"), "resnet9000"),
    Case("dataset-unknown", sweep("--dataset", "mnist-x"), "mnist-x"),
    Case("evaluation-unknown", sweep("--eval", "adversarialz"), "adversarialz"),
    Case("evaluation-option", sweep("--eval.adversarial.epsilon=0.1"),
         "eval.adversarial.epsilon"),
    Case("evaluation-section", sweep("--eval.nosuch.x=1"), "eval.nosuch"),
    Case("attack-suite", sweep("--eval.adversarial.suite=strong"), "eval.adversarial.suite"),
    Case("unknown-key", sweep("--train.lrr=0.1"), "train.lrr"),
    Case("yaml-duplicate-key", ("sweep", "--config", "{tmp}/dup.yaml", "--out", "{tmp}/out",
                                *TINY), "duplicate key 'lr'", setup="duplicate_yaml"),
    Case("yaml-malformed", ("sweep", "--config", "{tmp}/bad.yaml", "--out", "{tmp}/out",
                            *TINY), "malformed YAML", setup="malformed_yaml"),
    Case("config-missing", ("sweep", "--config", "{tmp}/none.yaml", "--out", "{tmp}/out",
                            *TINY), "does not exist"),
    Case("flag-unknown", sweep("--nosuch"), "unrecognized arguments"),
    # output folders
    Case("out-is-file", ("sweep", "--out", "{tmp}/file.txt", *TINY), "is a file",
         setup="a_file"),
    Case("out-under-file", ("sweep", "--out", "{tmp}/file.txt/run", *TINY), "which is a file",
         setup="a_file"),
    Case("out-read-only", ("sweep", "--out", "{tmp}/ro/run", *TINY), "not writable",
         setup="read_only_folder",
         skip="root can write anywhere" if hasattr(os, "geteuid") and os.geteuid() == 0
         else None),
    Case("out-not-a-sweep", ("sweep", "--out", "{tmp}/other", *TINY), "holds no sweep",
         setup="non_empty_folder"),
    Case("out-other-sweep", ("sweep", "--out", "{tmp}/run", *TINY), "different sweep",
         setup="other_sweep"),
    # an interrupted run (sweep.json written, one group half-trained, a stale temporary file)
    Case("interrupted-without-resume", ("sweep", "--out", "{tmp}/run", *TINY), "--resume",
         setup="interrupted_sweep"),
    Case("interrupted-resume-other-config", ("sweep", "--resume", "--out", "{tmp}/run", *TINY,
                                             "--train.lr=0.3"), "different sweep",
         setup="interrupted_sweep"),
    Case("resume-unreadable-sweep", ("sweep", "--resume", "--out", "{tmp}/run", *TINY),
         "unreadable", setup="corrupt_sweep_json_only"),
    # tempcheck report
    Case("report-missing", ("report", "{tmp}/nothing"), "results.csv"),
    Case("report-corrupt-eval-json", ("report", "{tmp}/run"), "eval.json is damaged",
         setup="run_with_corrupt_eval_json"),
    Case("report-corrupt-sweep-json", ("report", "{tmp}/run"), "sweep.json is damaged",
         setup="run_with_corrupt_sweep_json"),
    Case("report-corrupt-metrics", ("report", "{tmp}/run"), "metrics.jsonl is damaged",
         setup="run_with_corrupt_metrics"),
    # tempcheck calibrate
    Case("calibrate-missing", ("calibrate", "{tmp}/none.npz"), "not found"),
    Case("calibrate-json-folder", ("calibrate", "{tmp}/z.npz", "--json", "{tmp}"),
         "is a folder", setup="logits_file"),
    Case("calibrate-png-folder", ("calibrate", "{tmp}/z.npz", "--png", "{tmp}"),
         "is a folder", setup="logits_file"),
    Case("calibrate-bins-0", ("calibrate", "{tmp}/z.npz", "--bins", "0"), "n_bins",
         setup="logits_file"),
    Case("calibrate-nan", ("calibrate", "{tmp}/nan.npz"), "NaN", setup="nan_logits"),
    # tempcheck corrupt
    Case("corrupt-out-file", ("corrupt", "--out", "{tmp}/file.txt"), "is a file",
         setup="a_file"),
    Case("corrupt-out-not-empty", ("corrupt", "--out", "{tmp}/other"), "not empty",
         setup="non_empty_folder"),
    Case("corrupt-unknown", ("corrupt", "--out", "{tmp}/c", "--corruptions", "fogg"), "fogg"),
    # tempcheck dynamics
    Case("dynamics-out-file", ("dynamics", "--out", "{tmp}/file.txt"), "is a file",
         setup="a_file"),
    Case("dynamics-too-many-examples", ("dynamics", "--out", "{tmp}/d", "--n-examples",
                                        "100000"), "n_examples=100000"),
    Case("dynamics-beta-zero", ("dynamics", "--out", "{tmp}/d", "--betas", "0,1"), "betas"),
    Case("dynamics-model-unknown", ("dynamics", "--out", "{tmp}/d", "--model", "nosuch"),
         "nosuch"),
    # tempcheck distill
    Case("distill-no-teacher", ("distill", "--teacher", "{tmp}/none", "--out", "{tmp}/s"),
         "no trained group"),
    Case("distill-alpha", ("distill", "--teacher", "{tmp}/none", "--out", "{tmp}/s",
                           "--alpha", "1.5"), "--alpha=1.5"),
    Case("distill-temperatures-duplicate", ("distill", "--teacher", "{tmp}/none", "--out",
                                            "{tmp}/s", "--temperatures", "1,1"), "twice"),
    Case("distill-out-file", ("distill", "--teacher", "{tmp}/none", "--out", "{tmp}/file.txt"),
         "is a file", setup="a_file"),
    Case("overrides-elsewhere", ("report", "{tmp}/run", "--train.lr=0.1"),
         "takes no config overrides"),
    # tempcheck tune: its own options, refused before the first epoch
    Case("tune-objective", tune("--objective", "nosuch"), "unknown tune objective 'nosuch'"),
    Case("tune-weights-missing", tune("--objective", "weighted"), "needs --weights"),
    Case("tune-weights-unknown", tune("--objective", "weighted", "--weights", "acc=2"),
         "unknown objective 'acc' in --weights"),
    Case("tune-budget-0", tune("--budget", "0"), "budget is a fraction"),
    Case("tune-budget-below-a-rung", tune("--budget", "0.01"), "below one rung"),
    Case("tune-reduction-1", tune("--reduction", "1"), "reduction must be > 1"),
    Case("tune-rule", tune("--rule", "nosuch"), "unknown tune rule 'nosuch'"),
    Case("tune-protect-negative", tune("--protect", "-1"), "protect must be >= 0"),
    Case("tune-smooth-0", tune("--smooth", "0"), "smooth must be >= 1"),
    Case("tune-rungs-malformed", tune("--rungs", "0"), "epoch:keep pairs"),
    Case("tune-rungs-order", tune("--rungs", "2:1,1:1"), "epochs must rise"),
    Case("tune-json-folder", tune("--json", "{tmp}"), "is a folder"),
]


# -- setups: each writes what the case needs into tmp ------------------------------------------

def duplicate_yaml(tmp: Path) -> None:
    (tmp / "dup.yaml").write_text("train:\n  lr: 0.1\n  epochs: 1\n  lr: 0.2\n")


def malformed_yaml(tmp: Path) -> None:
    (tmp / "bad.yaml").write_text("train: {lr: 0.1\n")


def a_file(tmp: Path) -> None:
    (tmp / "file.txt").write_text("keep me\n")


def read_only_folder(tmp: Path) -> None:
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o555)


def non_empty_folder(tmp: Path) -> None:
    (tmp / "other").mkdir()
    (tmp / "other" / "notes.txt").write_text("mine\n")


def other_sweep(tmp: Path) -> None:
    (tmp / "run").mkdir()
    (tmp / "run" / "sweep.json").write_text(json.dumps({"fingerprint": "0123456789abcdef"}))
    (tmp / "run" / "results.csv").write_text("group,member\n")


def interrupted_sweep(tmp: Path) -> None:
    """What a sweep of TINY killed mid-group leaves: its sweep.json (the real fingerprint), a
    half-written group, a temporary file and the lock file of the dead process."""
    from tempcheck.cli import build_parser, config_from_args
    from tempcheck.sweep.store import fingerprint

    args = build_parser().parse_args(["sweep", "--out", str(tmp / "run"), *TINY[:-1]])
    config = config_from_args(args, [TINY[-1].removeprefix("--")], "sweep")
    root = tmp / "run"
    (root / "groups" / "seed0").mkdir(parents=True)
    (root / "sweep.json").write_text(json.dumps({"fingerprint": fingerprint(config.to_dict()),
                                                 "config": config.to_dict()}))
    (root / "groups" / "seed0" / "metrics.jsonl").write_text('{"epoch": 0}\n')
    (root / ".sweep.json.abc.tmp").write_text("{")
    (root / ".lock").write_text("pid 999999")


def corrupt_sweep_json_only(tmp: Path) -> None:
    (tmp / "run").mkdir()
    (tmp / "run" / "sweep.json").write_text('{"fingerprint": ')


def _run_folder(tmp: Path) -> Path:
    root = tmp / "run"
    gdir = root / "groups" / "seed0"
    gdir.mkdir(parents=True)
    (root / "sweep.json").write_text(json.dumps({"config": {}, "evaluations": ["clean"]}))
    (root / "results.csv").write_text("group,member,temperature,seed,status,test_acc\n"
                                      "seed0,0,1.0,0,ok,0.5\n")
    (gdir / "metrics.jsonl").write_text('{"epoch": 0, "train_loss": [1.0]}\n')
    (gdir / "eval.json").write_text('{"clean": {"n_test": 10}}\n')
    return root


def run_with_corrupt_eval_json(tmp: Path) -> None:
    (_run_folder(tmp) / "groups" / "seed0" / "eval.json").write_text('{"clean": ')


def run_with_corrupt_sweep_json(tmp: Path) -> None:
    (_run_folder(tmp) / "sweep.json").write_bytes(b"\xff\xfe{")


def run_with_corrupt_metrics(tmp: Path) -> None:
    (_run_folder(tmp) / "groups" / "seed0" / "metrics.jsonl").write_text('{"epoch": 0}\n{"ep')


def logits_file(tmp: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp / "z.npz", logits=rng.normal(size=(40, 3)), labels=rng.integers(0, 3, 40))


def nan_logits(tmp: Path) -> None:
    z = np.zeros((10, 3))
    z[2, 1] = np.nan
    np.savez(tmp / "nan.npz", logits=z, labels=np.zeros(10, dtype=int))


def _snapshot(root: Path) -> dict:
    """Every path under root with its bytes (folders as None): what must not change."""
    return {p.relative_to(root): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    if case.skip:
        pytest.skip(case.skip)
    if case.setup:
        globals()[case.setup](tmp_path)
    before = _snapshot(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    try:
        code = main(argv)
    finally:
        if (tmp_path / "ro").exists():
            (tmp_path / "ro").chmod(0o755)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (code, captured.err)
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    assert case.says in lines[0], lines[0]
    assert _snapshot(tmp_path) == before  # nothing written, nothing lost, no .lock


def test_the_documented_table_is_this_list():
    """docs/bad-inputs.md has one row per case, in this order (ids in the first column)."""
    rows = [line.split("|")[1].strip().strip("`") for line in DOC.read_text("utf-8").splitlines()
            if line.startswith("| `")]
    assert rows == [c.id for c in CASES]
    assert len(CASES) >= 30


def test_a_refused_sweep_leaves_an_existing_lock_and_folder_alone(tmp_path, capsys):
    other_sweep(tmp_path)
    (tmp_path / "run" / ".lock").write_text("pid 1")
    before = _snapshot(tmp_path)
    assert main(["sweep", "--out", str(tmp_path / "run"), *TINY]) == 2
    assert _snapshot(tmp_path) == before


def test_files_are_written_with_the_users_umask(tmp_path):
    from tempcheck.atomic import atomic_write_json

    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        os.umask(0o077)
        atomic_write_json(tmp_path / "b.json", {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644  # collaborators can read
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o600
