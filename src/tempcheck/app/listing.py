"""``tempcheck list``: the registered models, datasets and evaluations."""

from __future__ import annotations

from ..evaluations import available
from ..registry import names
from . import EXIT_OK


def list_command() -> int:
    print("models:      " + ", ".join(names("model")))
    print("datasets:    " + ", ".join(names("dataset")))
    print("evaluations: " + ", ".join(ev.name for ev in available()))
    return EXIT_OK


def report_command(out: str) -> int:
    from ..report.build import build_report

    html_path, md_path = build_report(out)
    print(f"report:  {html_path.resolve()}\nmarkdown: {md_path.resolve()}")
    return EXIT_OK


def compare_command(runs: list[str], out: str, *, labels: list[str] | None = None) -> int:
    """``tempcheck compare``: several sweeps side by side (``report.compare``)."""
    from ..report.compare import run_compare

    folder = run_compare(runs, out, labels=labels)
    print(f"table:   {folder / 'compare.csv'}\nreport:  {(folder / 'report.html').resolve()}")
    return EXIT_OK
