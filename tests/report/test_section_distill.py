"""The distillation report section, from a hand-written distill.csv (no training)."""

from __future__ import annotations

from tempcheck.report.rundata import RunData
from tempcheck.report.section_distill import build

HEADER = "role,member,distill_temperature,alpha,test_acc,test_nll,test_ece,agreement,status," \
         "teacher_temperature\n"
ROWS = [
    "student,0,1.0,0.1,0.80,0.6,0.05,0.90,ok,2.0",
    "student,1,4.0,0.1,0.90,0.4,0.03,0.95,ok,2.0",
    "student,0,1.0,0.1,0.70,0.7,0.06,0.85,ok,2.0",  # a second run at T = 1
    "student,2,8.0,0.1,,,,,diverged,2.0",
    "baseline,3,,1.0,0.75,0.5,0.04,0.80,ok,2.0",
    "teacher,,,,0.92,0.3,0.02,1.0,ok,2.0",
]


def test_section_aggregates_students_and_shows_references(tmp_path):
    (tmp_path / "distill.csv").write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    section = build(RunData.load(tmp_path))
    assert section.ran and len(section.figures) == 1
    md = section.markdown
    assert "| 1 | 2 | 0.75 ± 0.071 |" in md  # mean ± s.d. of the two T = 1 runs
    assert "| 4 | 1 | 0.9 |" in md
    assert "| 8 |" not in md and "1 student(s) diverged" in md
    assert "teacher accuracy 0.92" in md and "baseline (labels only) accuracy 0.75" in md
    assert "Best student accuracy at T = 4" in md and "τ = 2" in md


def test_section_not_run_without_distill_table(tmp_path):
    section = build(RunData.load(tmp_path))
    assert not section.ran and "distill.csv" in section.markdown
    (tmp_path / "distill.csv").write_text(HEADER + ROWS[-1] + "\n", encoding="utf-8")
    section = build(RunData.load(tmp_path))
    assert "no student rows" in section.markdown
