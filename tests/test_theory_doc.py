"""docs/theory.md is the project's own maths: every citation of it names a section that exists,
and nothing cites the private reference notes instead."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITED = ("src", "configs", "bench", "docs", "README.md")


def _texts():
    for name in CITED:
        path = ROOT / name
        files = [path] if path.is_file() else [p for p in path.rglob("*")
                                               if p.suffix in (".py", ".md", ".yaml")]
        for f in files:
            yield f, f.read_text(encoding="utf-8")


def test_every_theory_citation_names_an_existing_section():
    theory = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## §(\d+) ", theory, flags=re.M))
    assert sections == {str(i) for i in range(1, 10)}
    cited = {}
    for f, text in _texts():
        for group in re.findall(r"docs/theory\.md((?:,? ?§\d+)+)", text):
            for n in re.findall(r"§(\d+)", group):
                cited.setdefault(n, []).append(f.name)
    assert cited, "nothing cites docs/theory.md"
    assert set(cited) <= sections, {n: cited[n] for n in set(cited) - sections}


def test_no_citation_of_the_private_reference_notes():
    offenders = [f"{f.relative_to(ROOT)}" for f, text in _texts()
                 if re.search(r"REFERENCE(\.md)? ?§", text)]
    assert offenders == []
