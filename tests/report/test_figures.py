"""Figure conventions: visible τ colours, a class legend on feature maps, the fooled-share bars,
capped multi-panel widths."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from tempcheck.report.plots import (
    MAX_FIGURE_INCHES,
    fooled_share,
    fooled_share_bars,
    panel_width,
    temperature_colors,
)
from tempcheck.report.plots_analysis import embedding_grid


def _contrast_with_white(color) -> float:
    """WCAG 2 contrast ratio of ``color`` against white (1 = invisible, 21 = black)."""
    c = np.array(to_rgb(color))
    linear = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return 1.05 / (float(linear @ [0.2126, 0.7152, 0.0722]) + 0.05)


def test_every_temperature_colour_is_visible_on_white_and_distinct():
    colors = temperature_colors([0.1, 0.316, 1, 3.16, 10, 31.6, 100])
    # viridis's or plasma's pale-yellow end has 1.2:1 and vanishes on a white page
    assert min(_contrast_with_white(c) for c in colors.values()) >= 2.2
    rgb = np.array([to_rgb(c) for c in colors.values()])
    gaps = np.linalg.norm(np.diff(rgb, axis=0), axis=1)
    assert gaps.min() > 0.05


def test_feature_maps_carry_a_class_legend():
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 3
    maps = [(f"τ={t}", rng.normal(size=(30, 2)), labels) for t in (0.1, 1, 10)]
    fig = embedding_grid([("t-SNE", maps)], class_names=["zero", "one", "two"])
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["zero", "one", "two"]
    assert legend.get_title().get_text() == "class"
    default = embedding_grid([("PCA", maps)])
    assert [t.get_text() for t in default.legends[0].get_texts()] == ["0", "1", "2"]


def test_wide_grids_are_capped_at_the_content_width():
    assert panel_width(2, 3.0) == 6.0
    assert panel_width(40, 3.0) == MAX_FIGURE_INCHES
    maps = [(f"τ={t}", np.zeros((4, 2)) + t, np.arange(4)) for t in range(12)]
    assert embedding_grid([("t-SNE", maps)]).get_figwidth() <= MAX_FIGURE_INCHES


def test_fooled_share_is_the_broken_share_of_correct_inputs():
    rows = [{"temperature": 1.0, "clean_acc_adv_sample": 0.8, "robust_acc_pgd": 0.2,
             "robust_acc_square": 0.6},
            {"temperature": 1.0, "clean_acc_adv_sample": 0.5, "robust_acc_pgd": 0.5,
             "robust_acc_square": ""},
            {"temperature": 10.0, "clean_acc_adv_sample": 0.0, "robust_acc_pgd": 0.0}]
    shares = fooled_share(rows, {"robust_acc_pgd": "PGD", "robust_acc_square": "Square"})
    assert shares["PGD"] == {1.0: [pytest.approx(0.75), pytest.approx(0.0)]}  # τ=10: no correct
    assert shares["Square"] == {1.0: [pytest.approx(0.25)]}
    fig = fooled_share_bars(shares)
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [0.25, 0.375]  # PGD: mean of 0.75 and 0; Square 0.25
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1"]


def _bands(ax):
    from matplotlib.collections import PolyCollection

    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_bands_are_one_sample_sd_and_none_for_a_single_run():
    from tempcheck.report.plots import metric_vs_temperature

    fig = metric_vs_temperature({"test": {1.0: [0.2, 0.4, 0.9], 10.0: [0.5]}}, ylabel="acc")
    (band,) = _bands(fig.axes[0])
    ys = band.get_paths()[0].vertices[:, 1]
    sd = np.std([0.2, 0.4, 0.9], ddof=1)
    mean = np.mean([0.2, 0.4, 0.9])
    assert np.isclose(ys.max(), mean + sd) and np.isclose(ys.min(), min(mean - sd, 0.5))
    assert np.any(np.isclose(ys, 0.5))  # n = 1 at τ = 10: the band closes onto the mean


def test_no_band_reaches_zero_or_below_on_a_log_axis():
    from tempcheck.report.plots import curves_by_temperature, figure_png

    # seeds so far apart that mean − s.d. < 0 at every epoch
    fig = curves_by_temperature({1.0: [[0.01, 0.01], [1.0, 2.0]]}, ylabel="loss", log_y=True)
    (band,) = _bands(fig.axes[0])
    assert band.get_paths()[0].vertices[:, 1].min() < 0  # as drawn: below zero
    figure_png(fig)  # rendering lifts it
    ys = band.get_paths()[0].vertices[:, 1]
    lowest_mean = min(fig.axes[0].lines[0].get_ydata())
    assert ys.min() > 0 and np.isclose(ys.min(), lowest_mean / 2)
