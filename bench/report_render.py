"""Time the report's figure rendering on a run folder: sections, PNG and SVG, as JSON.

    python bench/report_render.py RUN_FOLDER

Prints {"figures": n, "sections_s": ..., "png_s": ..., "svg_s": ..., "svg_over_png": ...}:
building the sections (data → matplotlib Figures), then rendering every figure once as PNG
(as embedded in report.html) and once as SVG (written next to it for papers). Compare the
numbers as ratios within one run; absolute times depend on the machine and its load.
"""

from __future__ import annotations

import json
import sys
import time

from tempcheck.report.build import build_sections
from tempcheck.report.plots import figure_png, figure_svg
from tempcheck.report.rundata import RunData


def main(root: str) -> dict:
    t0 = time.perf_counter()
    sections = build_sections(RunData.load(root))
    t1 = time.perf_counter()
    figures = [fig for s in sections for _, fig in s.figures]
    for fig in figures:
        figure_png(fig)
    t2 = time.perf_counter()
    for fig in figures:
        figure_svg(fig)
    t3 = time.perf_counter()
    return {"figures": len(figures), "sections_s": round(t1 - t0, 2),
            "png_s": round(t2 - t1, 2), "svg_s": round(t3 - t2, 2),
            "svg_over_png": round((t3 - t2) / max(t2 - t1, 1e-9), 2)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
