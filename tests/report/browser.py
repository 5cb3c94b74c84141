"""Headless Chromium for report tests: find it, install it (Debian) when missing, or say why not."""

from __future__ import annotations

import os
import shutil
import subprocess

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def ensure_chromium() -> str | None:
    """Return None when Chromium and ChromeDriver are usable, else the reason they are not.

    Installs Debian's ``chromium`` and ``chromium-driver`` when missing and allowed (root and
    apt-get present); ``TEMPCHECK_NO_APT=1`` forbids installing."""
    if os.path.exists(CHROMIUM) and os.path.exists(DRIVER):
        return None
    if os.environ.get("TEMPCHECK_NO_APT") == "1":
        return "chromium is not installed and TEMPCHECK_NO_APT=1 forbids installing it"
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "chromium is not installed and apt-get (as root) is not available to install it"
    install = ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        if subprocess.run(install, capture_output=True, env=env, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
            done = subprocess.run(install, capture_output=True, env=env, timeout=900)
            if done.returncode != 0:
                return "apt-get could not install chromium: " + done.stderr.decode()[-200:]
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"installing chromium failed: {exc}"
    return None if os.path.exists(CHROMIUM) and os.path.exists(DRIVER) else "chromium missing"


def open_driver(width: int = 1280, height: int = 1600):
    """A headless Chrome WebDriver on Debian's Chromium, with the network kept quiet."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def full_page_png(driver, path) -> None:
    """Screenshot of the whole page (not just the viewport) via the DevTools protocol."""
    import base64

    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True})
    with open(path, "wb") as fh:
        fh.write(base64.b64decode(shot["data"]))
