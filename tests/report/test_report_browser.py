"""The HTML report renders in a real browser: every image loads, no script error, a screenshot;
at 1,400 px every figure is shown at its intended width (text at its point size) and a click
enlarges it."""

from __future__ import annotations

import re

import pytest
from browser import ensure_chromium, full_page_png, open_driver
from matplotlib.text import Text

from support import every_evaluation_config
from tempcheck.app import run_sweep
from tempcheck.report.build import build_sections
from tempcheck.report.html import CONTENT_WIDTH_PX
from tempcheck.report.plots import CSS_PX_PER_INCH, intended_width_px
from tempcheck.report.rundata import RunData

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# the smallest text a figure may carry on the page, in CSS px (7 pt at 96 px per inch)
MIN_TEXT_PX = 9.0


@pytest.fixture(scope="module")
def driver():
    pytest.importorskip("selenium", reason="selenium (dev extra) is not installed")
    why = ensure_chromium()
    if why:
        pytest.skip(why)
    d = open_driver()
    yield d
    d.quit()


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    """A sweep over the demo's seven temperatures (the widest multi-panel figures), tiny model."""
    cfg = every_evaluation_config(temperatures="'0.1:100:7'", seeds="[0]", epochs=2)
    _, root = run_sweep(cfg, tmp_path_factory.mktemp("browser") / "run")
    return root


def test_full_report_renders_with_every_image(driver, report_run, tmp_path):
    root = report_run
    driver.get((root / "report.html").resolve().as_uri())
    state = driver.execute_script("""
        const imgs = Array.from(document.images);
        return {n: imgs.length,
                broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
                sections: document.querySelectorAll('section').length,
                title: document.title};
    """)
    assert state["n"] >= 10, state
    assert state["broken"] == [], state["broken"]
    assert state["sections"] >= 10 and "tempcheck report" in state["title"]
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
    shot = tmp_path / "report.png"
    full_page_png(driver, shot)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


def test_figures_render_at_their_intended_width_at_1400px(driver, report_run):
    root = report_run
    driver.set_window_size(1400, 1000)
    driver.get((root / "report.html").resolve().as_uri())
    images = driver.execute_script("""
        return Array.from(document.images).map(i => ({
            alt: i.alt, intended: Number(i.dataset.intendedWidth),
            rendered: i.getBoundingClientRect().width, natural: i.naturalWidth,
            wide: i.closest('figure').classList.contains('wide')}));
    """)
    # the intended widths are those of the figures the sections draw (one inch = 96 CSS px)
    figures = [fig for s in build_sections(RunData.load(root)) for _, fig in s.figures]
    assert sorted(i["intended"] for i in images) == sorted(
        min(intended_width_px(f), CONTENT_WIDTH_PX) for f in figures)
    for img in images:
        assert img["intended"] <= CONTENT_WIDTH_PX, img["alt"]  # no figure needs shrinking
        # shown at its intended width: not shrunk (illegible) nor blown up (blurry)
        assert abs(img["rendered"] - img["intended"]) <= 1.0, img
        assert img["natural"] >= 1.4 * img["intended"], img  # 1.5× pixels: sharp on HiDPI
    assert any(i["wide"] for i in images) and any(not i["wide"] for i in images)
    # text legible: at 1:1 display a p-point font is p·96/72 px; the smallest one is ≥ 9 px
    for fig in figures:
        sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip()]
        assert min(sizes) * CSS_PX_PER_INCH / 72 >= MIN_TEXT_PX, (fig, min(sizes))


def test_a_click_enlarges_a_figure_and_a_second_click_restores_it(driver, report_run):
    driver.set_window_size(1400, 1000)
    driver.get((report_run / "report.html").resolve().as_uri())
    from selenium.webdriver.common.by import By

    img = driver.find_elements(By.CSS_SELECTOR, "figure.narrow img")[0]
    before = img.rect["width"]
    img.click()
    enlarged = driver.execute_script("return arguments[0].getBoundingClientRect().width", img)
    assert enlarged > 1.5 * before and enlarged >= 1300
    img.click()
    restored = driver.execute_script("return arguments[0].getBoundingClientRect().width", img)
    assert abs(restored - before) <= 1.0


def test_every_band_is_said_in_its_caption_and_units_are_fractions(report_run):
    """One statistics convention: a figure with a band says it is ±1 sample s.d.; accuracies,
    ECE and shares are fractions everywhere (no "%" cell in any table of the report)."""
    from matplotlib.collections import PolyCollection

    from tempcheck.report.tables import markdown_tables

    sections = build_sections(RunData.load(report_run), strict=True)
    banded = 0
    for s in sections:
        for caption, fig in s.figures:
            # fill_between areas are PolyCollections (scatter dots and bars are not)
            if any(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections):
                banded += 1
                assert "s.d." in caption and "min–max" not in caption, (s.title, caption)
        for header, rows in markdown_tables(s.markdown):
            # numeric cells ("0.91 ± 0.02 (n = 3)"); prose such as a masking reason may say %
            numbers = [c for r in rows for c in r if re.fullmatch(
                r"[-+]?[0-9.]+%?( ± [0-9.]+%?)?( \(n = \d+\))?", c.strip())]
            assert not [c for c in numbers if "%" in c], (s.title, header)
    assert banded >= 8
