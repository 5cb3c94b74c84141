"""Time the report's figure rendering on a run folder, as JSON.

    python bench/report_render.py RUN_FOLDER [--workers N]

Prints {"figures": n, "sections_s", "png_s", "svg_s", "png_svg_s", "rendered_s", "workers"}:
building the sections (data → matplotlib Figures); then, on fresh copies of the sections each
time, every figure rendered as PNG alone, as SVG alone (each laid out by its own render), as
PNG + SVG with the SVG reusing the PNG's layout (``figure_png_svg``, one process), and what
the report does (``render_figures``: the same on ``--workers`` forked processes, default the
CPUs this process may use, at most 4). Compare the numbers as ratios within one run; absolute
times depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import time

from matplotlib.figure import Figure

from tempcheck.report.build import build_sections
from tempcheck.report.plots import figure_png, figure_png_svg, figure_svg, render_figures
from tempcheck.report.rundata import RunData


def _figures(root: str) -> list[Figure]:
    sections = build_sections(RunData.load(root))
    return [fig for s in sections for _, fig in s.figures if isinstance(fig, Figure)]


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return round(time.perf_counter() - t0, 2)


def main(root: str, workers: int | None) -> dict:
    t0 = time.perf_counter()
    figures = _figures(root)
    sections_s = round(time.perf_counter() - t0, 2)
    out = {"figures": len(figures), "sections_s": sections_s,
           "png_s": _timed(lambda: [figure_png(f) for f in figures])}
    figures = _figures(root)
    out["svg_s"] = _timed(lambda: [figure_svg(f) for f in figures])
    figures = _figures(root)
    out["png_svg_s"] = _timed(lambda: [figure_png_svg(f) for f in figures])
    figures = _figures(root)
    out["rendered_s"] = _timed(lambda: render_figures(figures, workers))
    out["workers"] = workers or "auto"
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_folder")
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args()
    print(json.dumps(main(args.run_folder, args.workers)))
