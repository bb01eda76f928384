"""Video in a browser: upload one, find it by words and by a dropped clip, and watch the
matching clip."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from bench.video_factory import make_video
from tests.e2e.conftest import PHONE, screenshot
from tests.e2e.test_browser import PASSWORD, drop_files, show_every_match, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def player_time(page: Page, selector: str) -> float:
    """The player's position once it has loaded enough to seek there."""
    return float(
        page.evaluate(
            """(selector) => new Promise((resolve) => {
                const video = document.querySelector(selector);
                const done = () => resolve(video.currentTime);
                if (video.readyState >= 1) done();
                else video.addEventListener("loadedmetadata", done);
            })""",
            selector,
        )
    )


def test_upload_a_video_find_it_by_words_and_by_a_clip_and_play_the_matching_clip(
    page: Page,
    live_server,
    django_user_model,
    tmp_path: Path,
    model,  # type: ignore[no-untyped-def]
) -> None:
    django_user_model.objects.create_superuser("curator", "curator@example.com", PASSWORD)
    library_video = tmp_path / "harbour.webm"
    library_video.write_bytes(make_video("webm-vp9", seconds=14.0, size=(320, 180)))
    query_clip = tmp_path / "clip.webm"
    query_clip.write_bytes(make_video("webm-vp8", seconds=3.0, size=(160, 90)))
    base = live_server.url

    sign_in(page, base, "curator")
    drop_files(page, "#upload-drop", (library_video, "video/webm"))
    expect(page.locator("#recent .upload-row.status-ready")).to_have_count(1)
    page.get_by_label("Text", exact=True).fill("Boats in the harbour at dawn")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#recent .upload-row.status-ready")).to_have_count(2)

    page.goto(f"{base}/")
    show_every_match(page)
    page.get_by_label("Search text").fill("harbour")
    results = page.locator("#results")
    card = results.locator(".card-video")
    expect(card).to_have_count(1)
    expect(card.locator(".card-visual img")).to_be_visible()
    expect(card.locator(".segment")).to_have_text(re.compile(r"^0:(00|06|12)–0:(06|12|14)$"))
    screenshot(page, "video-search-text")

    drop_files(page, "#dropzone", (query_clip, "video/webm"))
    expect(results.get_by_role("heading", name="Results for clip.webm")).to_be_visible()
    expect(results.locator(".card")).to_have_count(2)
    expect(results.locator(".query-preview img")).to_be_visible()
    card = results.locator(".card-video")
    link = card.locator(".card-media").get_attribute("href") or ""
    start = float(parse_qs(urlparse(link).query)["start"][0])
    screenshot(page, "video-search-clip")

    card.locator(".card-media").hover()
    expect(card.locator(".card-visual")).to_have_class(re.compile("previewing"))

    card.locator(".card-media").click()
    viewer = page.locator("#viewer-video")
    expect(viewer).to_be_visible()
    assert player_time(page, "#viewer-video") == pytest.approx(start, abs=0.5)
    expect(page.get_by_text(re.compile(r"Starts at the matching clip, 0:\d\d"))).to_be_visible()
    screenshot(page, "video-viewer", full_page=False)

    page.goto(f"{base}{link}")
    assert player_time(page, "#item-video") == pytest.approx(start, abs=0.5)
    screenshot(page, "video-item")

    page.set_viewport_size(PHONE)
    page.go_back()
    expect(page.locator("#results .card-video")).to_have_count(1)
    screenshot(page, "video-search-clip-phone")
