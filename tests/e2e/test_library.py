"""The search page as a media library, in a browser: searches are URLs, failures show in place,
browsing, the viewer, the grid and the phone layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from bench.media_factory import make_image
from searchapp.services.items import item_add_text
from tests.e2e.test_browser import drop_files

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def notes(settings, model) -> list[str]:  # type: ignore[no-untyped-def]
    """Five notes, shown two a page, every match shown."""
    settings.SEARCH_PAGE_SIZE = 2
    settings.SEARCH_MIN_SCORE = -1.0
    texts = [f"Sea note number {number}" for number in range(5)]
    for text in texts:
        item_add_text(text=text)
    return texts


def titles(results: Locator) -> list[str]:
    expect(results.locator(".card").first).to_be_visible()
    return [title.strip() for title in results.locator(".card .card-title").all_inner_texts()]


def test_a_file_search_survives_paging_reload_and_back(
    page: Page, live_server, notes: list[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    query = tmp_path / "horse.png"
    query.write_bytes(make_image("png", size=(300, 200)))
    page.goto(f"{live_server.url}/")
    results = page.locator("#results")

    drop_files(page, "#dropzone", (query, "image/png"))
    expect(results.locator(".card")).to_have_count(2)
    first = titles(results)
    results.get_by_role("link", name="Next").click()

    expect(results.locator(".card-title")).not_to_have_text(first)
    expect(results.locator(".card")).to_have_count(2)
    second = titles(results)
    assert set(first).isdisjoint(second)
    page.reload()
    expect(results.locator(".card")).to_have_count(2)
    assert titles(results) == second
    expect(results).to_contain_text("horse.png")
    page.go_back()
    expect(results.locator(".card")).to_have_count(2)
    assert titles(results) == first


def test_a_search_is_a_url_through_paging_reload_back_and_forward(
    page: Page, live_server, notes: list[str]
) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/")
    results = page.locator("#results")

    page.get_by_label("Search text").fill("sea note")
    expect(page).to_have_url(re.compile(r"[?&]q=sea(\+|%20)note"))
    first = titles(results)
    results.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"[?&]page=2"))
    expect(results.locator(".card-title")).not_to_have_text(first)
    second = titles(results)
    page.reload()

    assert titles(results) == second
    expect(page.get_by_label("Search text")).to_have_value("sea note")
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"page=2"))
    assert titles(results) == first
    page.go_forward()
    expect(page).to_have_url(re.compile(r"[?&]page=2"))
    assert titles(results) == second
