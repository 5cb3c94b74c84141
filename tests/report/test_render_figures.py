"""Rendering a report's figures: forked workers give the bytes a serial render gives, and the
SVG keeps the layout the PNG's layout engine chose (it is not laid out a second time)."""

from __future__ import annotations

import re

import numpy as np
from matplotlib.figure import Figure

from tempcheck.report.plots import figure_png, figure_png_svg, figure_svg, render_figures


def _figure(seed: int) -> Figure:
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(7, 2.5), layout="constrained")
    for i in range(3):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.plot(rng.random(12), label=f"τ={10.0 ** (i - 1):g}")
        ax.set_title(f"panel {i} with a long title")
        ax.set_ylabel("accuracy (fraction)")
        ax.legend()
    return fig


def test_forked_workers_render_the_same_bytes_as_a_serial_render():
    serial = render_figures([_figure(s) for s in range(4)], workers=1)
    forked = render_figures([_figure(s) for s in range(4)], workers=2)
    assert forked == serial
    assert all(png[:4] == b"\x89PNG" and b"<svg" in svg for png, svg in serial)
    # the order is the figures' order, not the workers' finishing order
    assert len({png for png, _ in serial}) == 4


def _frame_origins(svg: bytes) -> list[tuple[float, float]]:
    """The lower-left corner of each axes' background patch (the first path of each axes)."""
    text = svg.decode()
    blocks = re.findall(r'<g id="axes_\d+">\s*<g id="patch_\d+">\s*<path d="M ([\d.]+) ([\d.]+)',
                        text)
    return [(float(x), float(y)) for x, y in blocks]


def test_the_svg_reuses_the_pngs_layout_within_a_pixel():
    alone = _frame_origins(figure_svg(_figure(0)))  # laid out by the SVG render itself
    png, svg = figure_png_svg(_figure(0))
    reused = _frame_origins(svg)
    assert png == figure_png(_figure(0))
    assert len(alone) == len(reused) == 3
    assert np.allclose(alone, reused, atol=1.0)
    # and the figure keeps its layout engine afterwards (a later render lays it out again)
    fig = _figure(1)
    figure_png_svg(fig)
    assert fig.get_layout_engine() is not None
