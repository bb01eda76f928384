from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from bench.media_factory import encode_audio

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
DESKTOP: ViewportSize = {"width": 1366, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
# What axe-core may report: anything less than a serious or critical violation.
TOLERATED_IMPACTS = {"minor", "moderate"}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; `make test-slow` installs it.")
    # Playwright's sync API runs an event loop; Django must allow ORM calls from tests anyway.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                # A synthetic microphone, so recording a query can be tested.
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A browser tab; the test fails if the Content-Security-Policy refused anything in it."""
    context = browser.new_context(viewport=DESKTOP, permissions=["microphone"])
    context.set_default_timeout(15_000)
    opened = context.new_page()
    refusals: list[str] = []
    opened.on(
        "console",
        lambda message: (
            refusals.append(message.text)
            if "Content Security Policy" in message.text or message.text.startswith("Refused to")
            else None
        ),
    )
    yield opened
    context.close()
    assert not refusals, refusals


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def accessibility_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): "
        + ", ".join(str(node["target"]) for node in violation["nodes"])
        for violation in results.response["violations"]
        if violation["impact"] not in TOLERATED_IMPACTS
    ]


def birdsong(seconds: float) -> bytes:
    """A clip whose waveform has a shape to see: calls that swell and fade over a murmur."""
    rate = 16_000
    t = np.arange(int(seconds * rate)) / rate
    calls = np.abs(np.sin(t * 1.3)) ** 4 * (0.55 + 0.45 * np.sin(t * 0.37))
    level = 0.08 + 0.9 * calls
    wave = level * np.sin(2 * np.pi * (900 + 400 * np.sin(t * 40)) * t)
    return encode_audio(wave.astype(np.float32)[None, :], "flac", sampling_rate=rate)
