"""The report-section contract.

A section builder is a pure function ``build(run: RunData) -> Section``. When the evaluation a
section depends on did not run, the builder returns ``Section.not_run(title, why)`` so the
section says so instead of vanishing. Figures are matplotlib Figures from ``report.plots``
(pure functions, data → Figure); the HTML writer embeds them as base64 PNG.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Section:
    title: str
    markdown: str = ""  # body in Markdown (tables, paragraphs); shared by report.md and html
    figures: list = field(default_factory=list)  # [(caption, matplotlib Figure)]
    ran: bool = True
    anchor: str = ""

    @classmethod
    def not_run(cls, title: str, why: str) -> Section:
        return cls(title=title, markdown=f"*Not run:* {why}", ran=False)


def md_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; floats printed with 4 significant digits."""

    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
