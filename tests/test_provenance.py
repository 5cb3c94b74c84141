"""Provenance: package versions, torch threads and determinism, the git dirty flag, --version."""

from __future__ import annotations

import shutil
import subprocess

import matplotlib
import pytest
import sklearn
import torch

from tempcheck import __version__
from tempcheck.cli import main
from tempcheck.provenance import git_state, versions


def test_versions_record_libraries_threads_and_determinism():
    v = versions()
    assert v["scikit_learn"] == sklearn.__version__ and v["matplotlib"] == matplotlib.__version__
    assert v["torch"] == torch.__version__ and v["tempcheck"] == __version__
    assert v["torch_threads"] == torch.get_num_threads()
    assert v["deterministic_algorithms"] == torch.are_deterministic_algorithms_enabled()
    assert v["float32_matmul_precision"] == torch.get_float32_matmul_precision()
    assert v["git_dirty"] in (True, False, None)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_dirty_flag_follows_tracked_changes(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    assert git_state(tmp_path) == (None, None)  # not a repository
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-q", "-m", "one")
    head, dirty = git_state(tmp_path)
    assert len(head) == 40 and dirty is False
    (tmp_path / "new.txt").write_text("untracked files do not count\n")
    assert git_state(tmp_path)[1] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_state(tmp_path) == (head, True)


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"tempcheck {__version__}") and f"torch {torch.__version__}" in line
