"""Report tables as files: Markdown pipe tables read back, CSV and LaTeX writers."""

from __future__ import annotations

import csv
import io

from tempcheck.report.base import md_table
from tempcheck.report.tables import latex_escape, markdown_tables, table_csv, table_latex


def test_markdown_tables_read_back_every_table_with_its_cells():
    md = ("intro\n\n" + md_table(["τ", "acc"], [[0.1, "**90%**"], [1.0, "`x`"]])
          + "\n\ntext\n\n" + md_table(["a"], [["b"]]))
    tables = markdown_tables(md)
    assert tables == [(["τ", "acc"], [["0.1", "**90%**"], ["1", "`x`"]]), (["a"], [["b"]])]


def test_csv_drops_markdown_marks_and_quotes_commas():
    text = table_csv(["model", "note"], [["**a, b**", "`c`"]])
    assert list(csv.reader(io.StringIO(text))) == [["model", "note"], ["a, b", "c"]]


def test_latex_escapes_specials_and_writes_symbols_as_math():
    assert latex_escape("50% of x_1 & $y") == r"50\% of x\_1 \& \$y"
    assert latex_escape("τ = 0.1 ± 0.2") == r"$\tau$ = 0.1 $\pm$ 0.2"
    tex = table_latex(["τ", "acc"], [["**0.1**", "90%"]], caption="Summary")
    lines = tex.splitlines()
    assert lines[:4] == [r"\begin{table}[ht]", r"\centering", r"\caption{Summary}",
                         r"\begin{tabular}{lr}"]
    assert r"$\tau$ & acc \\" in lines and r"\textbf{0.1} & 90\% \\" in lines
    assert lines.index(r"\toprule") < lines.index(r"\midrule") < lines.index(r"\bottomrule")
