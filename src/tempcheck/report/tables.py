"""The report's tables as files a paper can use: CSV (the cells as shown) and LaTeX (booktabs).

Sections write their tables as Markdown pipe tables (``base.md_table``); ``markdown_tables``
reads them back out of a section's Markdown, so every table of the report is exported without
each section keeping a second copy. LaTeX cells get their Markdown emphasis and code spans
converted and the symbols the report uses (τ, β, ±, ‖, …) written as LaTeX math.
"""

from __future__ import annotations

import csv
import io
import re

_SEPARATOR = re.compile(r":?-+:?")

# the non-ASCII symbols report cells use, as LaTeX (text mode; math wrapped in $…$)
_LATEX_SYMBOLS = {
    "τ": r"$\tau$", "β": r"$\beta$", "η": r"$\eta$", "α": r"$\alpha$", "ε": r"$\varepsilon$",
    "σ": r"$\sigma$", "±": r"$\pm$", "×": r"$\times$", "−": r"$-$", "–": "--", "—": "---",
    "‖": r"$\|$", "≤": r"$\leq$", "≥": r"$\geq$", "≈": r"$\approx$", "→": r"$\to$",
    "²": r"$^2$", "₀": r"$_0$", "·": r"$\cdot$", "∞": r"$\infty$", "Δ": r"$\Delta$",
    "✓": r"\checkmark{}", "✗": r"$\times$", "…": r"\ldots{}",
}
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def markdown_tables(markdown: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every pipe table in ``markdown`` as (header, rows) of cell strings."""
    tables, block = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if block:
            rows = [r for r in block if not all(_SEPARATOR.fullmatch(c) for c in r if c)]
            if rows:
                tables.append((rows[0], rows[1:]))
            block = []
    return tables


def plain_cell(cell: str) -> str:
    """A Markdown cell as plain text (emphasis and code marks removed)."""
    return re.sub(r"\*\*([^*]+)\*\*|\*([^*]+)\*|`([^`]+)`",
                  lambda m: next(g for g in m.groups() if g is not None), cell)


def table_csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([plain_cell(c) for c in header])
    writer.writerows([[plain_cell(c) for c in r] for r in rows])
    return buf.getvalue()


def latex_escape(text: str) -> str:
    """Plain text → LaTeX text: special characters escaped, report symbols as math."""
    out = []
    for ch in text:
        out.append(_LATEX_SPECIAL.get(ch) or _LATEX_SYMBOLS.get(ch) or ch)
    # adjacent math pieces ($\tau$$=$ …) read better merged: "$a$$b$" → "$a b$"
    return re.sub(r"\$\$", " ", "".join(out))


def _latex_cell(cell: str) -> str:
    parts = re.split(r"(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`)", cell)
    out = []
    for part in parts:
        if part.startswith("**") and part.endswith("**") and len(part) > 4:
            out.append(r"\textbf{" + latex_escape(part[2:-2]) + "}")
        elif part.startswith("`") and part.endswith("`") and len(part) > 2:
            out.append(r"\texttt{" + latex_escape(part[1:-1]) + "}")
        elif part.startswith("*") and part.endswith("*") and len(part) > 2:
            out.append(r"\emph{" + latex_escape(part[1:-1]) + "}")
        else:
            out.append(latex_escape(part))
    return "".join(out)


def table_latex(header: list[str], rows: list[list[str]], caption: str = "") -> str:
    """A booktabs ``table`` environment: first column left-aligned, the others right-aligned."""
    n = max([len(header), *(len(r) for r in rows)])
    spec = "l" + "r" * (n - 1)

    def line(cells: list[str]) -> str:
        cells = [*cells, *[""] * (n - len(cells))]
        return " & ".join(_latex_cell(c) for c in cells) + r" \\"

    body = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        body.append(r"\caption{" + latex_escape(caption) + "}")
    body += [r"\begin{tabular}{" + spec + "}", r"\toprule", line(header), r"\midrule",
             *[line(r) for r in rows], r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(body)
