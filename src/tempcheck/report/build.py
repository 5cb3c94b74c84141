"""Build ``report.html`` (self-contained) and ``report.md`` (+ ``figures/*.png``) from a run folder.

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
from .plots import figure_png
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


def build_report(out: str | Path, *, strict: bool = False) -> tuple[Path, Path]:
    """Write report.html, report.md and figures/ into ``out``; returns (html path, md path).

    ``strict``: raise :class:`ReportSectionError` when a section fails (before anything is
    written) instead of showing the error in its place."""
    from ..atomic import atomic_write_bytes, atomic_write_text

    root = Path(out)
    if not any((root / name).is_file() for name in ("results.csv", "dynamics.json")):
        raise RunFolderError(f"{root} has no results.csv; is it a tempcheck run folder?")
    run = RunData.load(root)
    sections = build_sections(run, strict=strict)
    cfg = run.sweep.get("config", {})
    title = (f"tempcheck report — {cfg.get('data', {}).get('name', '?')} / "
             f"{cfg.get('model', {}).get('name', '?')}")
    images: dict[int, list[tuple[str, bytes]]] = {}
    md = [f"# {title}", ""]
    for i, s in enumerate(sections):
        md += [f"## {s.title}", "", s.markdown, ""]
        for j, (caption, fig) in enumerate(s.figures):
            png = figure_png(fig) if isinstance(fig, Figure) else fig
            images.setdefault(i, []).append((caption, png))
            name = f"figures/{i:02d}-{_slug(s.title)}-{j}.png"
            atomic_write_bytes(root / name, png)
            md += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    from .html import render_html

    html_path, md_path = root / "report.html", root / "report.md"
    atomic_write_text(html_path, render_html(title, sections, images))
    atomic_write_text(md_path, "\n".join(md))
    return html_path, md_path


def build_tune_page(folder: str | Path) -> Path:
    """``report.html`` / ``report.md`` of a tune run on its own (no sweep beside it)."""
    from ..atomic import atomic_write_bytes, atomic_write_text
    from . import section_tune
    from .html import render_html

    root = Path(folder)
    section = section_tune.build(RunData(root=root))
    images = {0: [(caption, figure_png(fig)) for caption, fig in section.figures]}
    md = ["# tempcheck tune", "", f"## {section.title}", "", section.markdown, ""]
    for j, (caption, png) in enumerate(images[0]):
        name = f"figures/tune-{j}.png"
        atomic_write_bytes(root / name, png)
        md += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    atomic_write_text(root / "report.html", render_html("tempcheck tune", [section], images))
    atomic_write_text(root / "report.md", "\n".join(md))
    return root / "report.html"
