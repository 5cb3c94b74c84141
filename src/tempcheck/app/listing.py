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
