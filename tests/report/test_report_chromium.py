"""The reports render in a real browser: headless Chromium screenshots, not blank, pictures loaded."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from report_helpers import RED

from seafloorhmc.report import write_prediction_report, write_run_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(  # skipped before the fixtures train anything
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install -y chromium)")]

WIDTH, HEIGHT = 1280, 2000
BACKGROUND = (245, 247, 250)  # the page background (#f5f7fa)
HEADER = (22, 50, 79)  # the title bar (#16324f)
MATPLOTLIB_BLUE = (31, 119, 180)  # the first line colour of every curve picture


def screenshot(html, tmp_path) -> np.ndarray:
    png = tmp_path / f"{html.stem}.png"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}",
               html.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert png.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    with Image.open(png) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def near(pixels: np.ndarray, colour, tolerance: int = 12) -> np.ndarray:
    return np.abs(pixels - np.array(colour)).max(axis=2) <= tolerance


def share_near(pixels: np.ndarray, colour, tolerance: int = 12) -> float:
    return float(near(pixels, colour, tolerance).mean())


def assert_not_blank(pixels: np.ndarray) -> None:
    """A title bar, and below it ink (text, lines, pictures) on > 2 % of the page, which is neither
    the background nor the white of the section cards (a page with only its title bar has 0 %)."""
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    assert share_near(pixels[:50, :], HEADER) > 0.5, "the styled title bar is missing"
    body = pixels[100:]
    ink = float((~near(body, BACKGROUND, 30) & ~near(body, (255, 255, 255), 30)).mean())
    assert ink > 0.02, f"the page is (nearly) blank: {ink:.1%} ink"


def test_run_report_renders_in_chromium(image_run, tmp_path):
    run = tmp_path / "copied-run"
    shutil.copytree(image_run, run)  # a copied folder still works: pictures are relative links
    pixels = screenshot(write_run_report(run), tmp_path)
    assert_not_blank(pixels)
    assert share_near(pixels, MATPLOTLIB_BLUE, 20) > 1e-4, "the curve pictures did not load"  # 0 without them


def test_prediction_report_renders_in_chromium(predictions, tmp_path):
    pixels = screenshot(write_prediction_report(predictions, tmp_path / "predictions.html"), tmp_path)
    assert_not_blank(pixels)
    assert share_near(pixels, RED, 40) > 0.01, "the embedded thumbnails did not load"
