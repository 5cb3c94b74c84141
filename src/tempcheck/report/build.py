"""Build ``report.html`` (self-contained) and ``report.md`` from a run folder.

Next to them: ``figures/<NN>-<section>-<j>.png`` and the same figure as ``.svg`` (vector, for a
paper), and ``tables/<NN>-<section>-<j>.csv`` and ``.tex`` (booktabs) for every table.

Sections run in a fixed order; sections of later stages (calibration, corruptions, adversarial,
gradient balance, features, early-learning dynamics) come from ``section_<name>.py`` modules and
say "not run" when their evaluation did not run, or when this version lacks them. A section that
crashes is shown as an error instead of taking the whole report down; with ``strict=True`` (what
the tests use) the error propagates instead, so a broken section cannot pass unnoticed.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from matplotlib.figure import Figure

from ..errors import RunFolderError
from . import section_core
from .base import Section
from .plots import intended_width_px, render_figures
from .rundata import RunData

# sections that report no evaluation; each evaluation's own comes from its declaration
# (``EVALUATION.section`` in its module, tempcheck.evaluations), in run order
OTHER_SECTIONS = (("Distillation", "section_distill", None),
                  ("Choosing τ automatically (tune)", "section_tune", None))


def optional_sections() -> list[tuple[str, str, str | None]]:
    """(title used when the module is missing, module name, evaluation it reports or None)."""
    from ..evaluations import available

    listed = [(ev.section[0], ev.section[1], ev.name if ev.scope == "group" else None)
              for ev in available() if ev.section is not None]
    return listed + list(OTHER_SECTIONS)


def skip_reason(run: RunData, evaluation: str) -> str | None:
    """Why ``evaluation`` was skipped in every group (e.g. image-only on text data), or None."""
    # a whole evaluation skipped says so as a string (evaluations may also list skipped parts,
    # e.g. corruption's skipped corruptions, which is not what this looks for)
    reasons = [(info.get(evaluation) or {}).get("skipped") if isinstance(
        info.get(evaluation), dict) else None for info in run.evals.values()]
    if reasons and all(isinstance(r, str) and r for r in reasons):
        return "; ".join(sorted(set(reasons)))
    return None


def build_sections(run: RunData, *, strict: bool = False) -> list[Section]:
    """Every report section of ``run``, in order. A section that raises becomes a "Section
    failed" text (``strict=False``, for users: one broken section must not hide the others),
    or raises :class:`ReportSectionError` naming the section (``strict=True``, for tests)."""
    builders = [section_core.build_setup, section_core.build_summary,
                section_core.build_vs_temperature, section_core.build_learning_curves]
    sections = [_safe(b, run, b.__name__, strict) for b in builders]
    for title, name, evaluation in optional_sections():
        why = skip_reason(run, evaluation) if evaluation else None
        if why:
            sections.append(Section.not_run(title, f"skipped: {why}"))
            continue
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(name):
                sections.append(Section.not_run(title, "not available in this version"))
                continue
            raise
        sections.append(_safe(module.build, run, title, strict))
    return sections


class ReportSectionError(RuntimeError):
    """A report section raised while being built (only with ``strict=True``)."""


def _safe(builder, run: RunData, title: str, strict: bool) -> Section:
    try:
        return builder(run)
    except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
        if strict:
            raise ReportSectionError(f"report section {title!r} failed: "
                                     f"{type(exc).__name__}: {exc}") from exc
        return Section(title=title, markdown=f"*Section failed:* `{type(exc).__name__}: {exc}`",
                       ran=False)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def _png_width(png: bytes) -> int:
    """Pixel width from a PNG's IHDR chunk."""
    return int.from_bytes(png[16:20], "big") if png[:8] == b"\x89PNG\r\n\x1a\n" else 520


def build_report(out: str | Path, *, strict: bool = False) -> tuple[Path, Path]:
    """Write report.html, report.md, figures/ and tables/ into ``out``; returns (html, md).

    A sweep still running (no results.csv yet, some groups finished) gets a *partial* report of
    the finished groups, said in its title and first section. ``strict``: raise
    :class:`ReportSectionError` when a section fails (before anything is written) instead of
    showing the error in its place."""
    root = Path(out)
    run = RunData.load(root)
    partial = not (root / "results.csv").is_file() and bool(run.results)
    if not run.results and not (root / "dynamics.json").is_file():
        raise RunFolderError(f"{root} has no results.csv (nor a finished group); is it a "
                             "tempcheck run folder?")
    from . import section_distill

    if section_distill.is_distill_folder(root):  # `tempcheck distill`: its own sections
        sections = [_safe(b, run, b.__name__, strict) for b in section_distill.DISTILL_BUILDERS]
        title = section_distill.distill_title(run)
    else:
        sections = build_sections(run, strict=strict)
        cfg = run.sweep.get("config", {})
        title = (f"tempcheck report — {cfg.get('data', {}).get('name', '?')} / "
                 f"{cfg.get('model', {}).get('name', '?')}")
    if partial:
        done, total = len(run.evals), len(run.sweep.get("groups", [])) or len(run.evals)
        title += f" (partial: {done} of {total} groups finished)"
        sections.insert(0, Section("Partial report", (
            f"The sweep is still running (or was stopped): this report shows the {done} of "
            f"{total} groups that finished. Rebuild it with `tempcheck report {root}` later, "
            "or let the sweep write the final one."), ran=False))
    return write_report(root, title, sections)


def write_report(root: Path, title: str, sections: list[Section]) -> tuple[Path, Path]:
    """Render ``sections`` into ``root``: report.html (figures embedded), report.md, each
    figure as PNG + SVG under figures/, each table as CSV + LaTeX under tables/."""
    from ..atomic import atomic_write_bytes, atomic_write_text
    from .html import ReportImage, render_html
    from .tables import markdown_tables, table_csv, table_latex

    images: dict[int, list[ReportImage]] = {}
    vectors = [fig for s in sections for _, fig in s.figures if isinstance(fig, Figure)]
    rendered = iter(render_figures(vectors))
    md = [f"# {title}", ""]
    for i, s in enumerate(sections):
        md += [f"## {s.title}", "", s.markdown, ""]
        stem = f"{i:02d}-{_slug(s.title)}"
        for j, (header, rows) in enumerate(markdown_tables(s.markdown)):
            atomic_write_text(root / f"tables/{stem}-{j}.csv", table_csv(header, rows))
            atomic_write_text(root / f"tables/{stem}-{j}.tex",
                              table_latex(header, rows, caption=s.title))
        for j, (caption, fig) in enumerate(s.figures):
            name = f"figures/{stem}-{j}"
            if isinstance(fig, Figure):
                (png, svg), width = next(rendered), intended_width_px(fig)
                atomic_write_bytes(root / f"{name}.svg", svg)
                vector = f" ([SVG]({name}.svg))"
            else:  # already-rendered PNG bytes: shown at their pixel width
                png, width, vector = fig, _png_width(fig), ""
            images.setdefault(i, []).append(ReportImage(caption, png, width))
            atomic_write_bytes(root / f"{name}.png", png)
            md += [f"![{caption}]({name}.png)", "", f"*{caption}*{vector}", ""]
    html_path, md_path = root / "report.html", root / "report.md"
    atomic_write_text(html_path, render_html(title, sections, images))
    atomic_write_text(md_path, "\n".join(md))
    return html_path, md_path


def build_tune_page(folder: str | Path) -> Path:
    """``report.html`` / ``report.md`` of a tune run on its own (no sweep beside it)."""
    from . import section_tune

    root = Path(folder)
    return write_report(root, "tempcheck tune", [section_tune.build(RunData(root=root))])[0]
