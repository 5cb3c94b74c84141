"""The HTML report renders in a real browser: every image loads, no script error, a screenshot."""

from __future__ import annotations

import pytest
from browser import ensure_chromium, full_page_png, open_driver

from tempcheck.app import run_sweep
from tempcheck.config import load_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def driver():
    pytest.importorskip("selenium", reason="selenium (dev extra) is not installed")
    why = ensure_chromium()
    if why:
        pytest.skip(why)
    d = open_driver()
    yield d
    d.quit()


def test_full_report_renders_with_every_image(driver, tmp_path):
    cfg = load_config(None, [
        "train.epochs=2", "model.options.widths=[8, 8, 8]", "sweep.temperatures=[0.5, 5.0]",
        "sweep.seeds=[0]", "eval.corruption.n_images=16",
        "eval.corruption.corruptions=[gaussian_noise, fog]", "eval.adversarial.n_examples=16"])
    _, root = run_sweep(cfg, tmp_path / "run")
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
