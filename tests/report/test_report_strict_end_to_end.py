"""A demo-like sweep (every evaluation, two seeds) whose report is built in strict mode: any
section that raises fails this test instead of turning into "Section failed" text."""

from __future__ import annotations

import pytest

from support import every_evaluation_config
from tempcheck.report.build import build_report, build_sections, optional_sections
from tempcheck.report.rundata import RunData
from tempcheck.sweep.run import run_sweep

pytestmark = pytest.mark.slow  # one small sweep with every evaluation, then the whole report

# the one section a sweep cannot fill: distillation results come from `tempcheck distill`
# sections of other commands (distill, tune): a sweep alone cannot fill them; the tune section
# is rendered by tests/tune/test_tune_end_to_end.py
NOT_FROM_A_SWEEP = {"Distillation", "Choosing τ automatically (tune)"}


@pytest.fixture(scope="module")
def demo_like_run(tmp_path_factory):
    cfg = every_evaluation_config(temperatures="[0.5, 5.0]", seeds="[0, 1]", epochs=1)
    _, root = run_sweep(cfg, tmp_path_factory.mktemp("demo") / "run")
    return root


def test_every_section_renders_in_strict_mode(demo_like_run):
    html_path, md_path = build_report(demo_like_run, strict=True)
    sections = build_sections(RunData.load(demo_like_run), strict=True)
    expected = {title for title, _, _ in optional_sections()} - NOT_FROM_A_SWEEP
    ran = {s.title for s in sections if s.ran}
    missing = [s.title for s in sections if s.title in expected and not s.ran]
    assert not missing, missing
    assert {"Setup and provenance", "Summary", "Learning curves"} <= ran
    md = md_path.read_text(encoding="utf-8")
    assert "Section failed" not in md and "Not run" not in md.replace(
        "*Not run:* no distillation results", "").replace("*Not run:* no tune in this folder", "")
    assert "Section failed" not in html_path.read_text(encoding="utf-8")
