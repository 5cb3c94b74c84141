"""The README's Python examples run, so they cannot drift from the code.

Every ```python block of README.md is executed in a fresh namespace, in a temporary working
directory. The line just above a block may be an HTML comment (invisible on the rendered page):
``<!-- snippet: skip — reason -->`` skips it (files, data or hardware the test machine lacks),
``<!-- snippet setup: code -->`` runs ``code`` first (example inputs for a fragment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = re.compile(r"^<!--\s*snippet(?::\s*skip\s*[—-]\s*(?P<skip>.+?)|\s+setup:\s*(?P<setup>.+?))"
                    r"\s*-->$")


@dataclass(frozen=True)
class Snippet:
    line: int  # line of the opening fence
    code: str
    setup: str = ""
    skip: str = ""


def readme_snippets(text: str) -> list[Snippet]:
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start, body = i + 1, []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            marker = MARKER.match(lines[start - 2].strip()) if start >= 2 else None
            out.append(Snippet(start, "\n".join(body),
                               setup=(marker and marker["setup"]) or "",
                               skip=(marker and marker["skip"]) or ""))
        i += 1
    return out


SNIPPETS = readme_snippets(README.read_text(encoding="utf-8"))


def run_snippet(snippet: Snippet) -> dict:
    namespace: dict = {"__name__": "__readme__"}
    if snippet.setup:
        exec(compile(snippet.setup, f"README.md:{snippet.line - 1} (setup)", "exec"), namespace)
    exec(compile(snippet.code, f"README.md:{snippet.line}", "exec"), namespace)
    return namespace


def test_the_parser_finds_blocks_markers_and_reasons():
    text = ("x\n```python\na = 1\n```\n<!-- snippet: skip — needs a GPU -->\n```python\nb\n```\n"
            "<!-- snippet setup: import torch; z = 2 -->\n```python\nc = z\n```\n```bash\nls\n```")
    a, b, c = readme_snippets(text)
    assert (a.code, a.skip, a.setup) == ("a = 1", "", "")
    assert b.skip == "needs a GPU" and c.setup == "import torch; z = 2" and c.code == "c = z"
    assert len(SNIPPETS) >= 10  # the README has its examples


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"README.md:{s.line}" for s in SNIPPETS])
def test_readme_snippet_runs(snippet, tmp_path, monkeypatch):
    if snippet.skip:
        pytest.skip(f"README.md:{snippet.line}: {snippet.skip}")
    monkeypatch.chdir(tmp_path)
    ns = run_snippet(snippet)
    if "from tempcheck.train.loop import fit" in snippet.code:
        check_library_example(ns)


def check_library_example(ns: dict) -> None:
    """The library example must score test data with BatchNorm's running statistics, and must
    not update them with test data."""
    bank, x = ns["bank"], ns["data"].test.x
    assert not bank.training, "the library example scores test data in training mode"
    before = {n: b.clone() for n, b in bank.named_buffers()}
    with torch.no_grad():
        again = bank.eval()(x)
    assert torch.equal(ns["logits"], again)  # eval-mode logits, not batch-statistics ones
    assert all(torch.equal(before[n], b) for n, b in bank.named_buffers())


def test_readme_states_the_temperature_bounds_the_code_uses():
    from tempcheck.eval.calibration import CalibrationOptions

    opts = CalibrationOptions()
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert f"T is kept in [min(τ, 1)·{opts.t_min:g}, max(τ, 1)·{opts.t_max:g}]" in text
