"""The search page as a media library, in a browser: searches are URLs, failures show in place,
browsing, the viewer, the grid and the phone layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from bench.media_factory import make_image
from searchapp.services.items import ItemDetails, item_add_file, item_add_text
from tests.e2e.conftest import PHONE, screenshot
from tests.e2e.test_browser import drop_files

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def notes(settings, model) -> list[str]:  # type: ignore[no-untyped-def]
    """Five notes, shown two a page, every match shown."""
    settings.SEARCH_PAGE_SIZE = 2
    settings.SEARCH_MIN_SCORE = -1.0
    texts = [f"Sea note number {number}" for number in range(5)]
    for text in texts:
        item_add_text(text=text)
    return texts


def picture(path: Path) -> Path:
    path.write_bytes(make_image("png", size=(300, 200)))
    return path


def titles(results: Locator) -> list[str]:
    expect(results.locator(".card").first).to_be_visible()
    return [title.strip() for title in results.locator(".card .card-title").all_inner_texts()]


def test_a_file_search_survives_paging_reload_and_back(
    page: Page, live_server, notes: list[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    query = picture(tmp_path / "horse.png")
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


def hold_searches(page: Page) -> list[Route]:
    """Holds every results request the page makes (htmx's), for the test to answer."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        if route.request.headers.get("hx-request"):
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r"/\?"), hold)
    return held


def test_a_search_while_typing_shows_it_is_busy_then_its_failure_in_words(
    page: Page, live_server, notes: list[str]
) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/")
    results = page.locator("#results")
    held = hold_searches(page)

    page.get_by_label("Search text").fill("sea")
    expect(page.locator("#search-busy")).to_have_class(re.compile("htmx-request"))
    expect(results).to_have_attribute("aria-busy", "true")
    expect(page.locator("#search-status")).to_have_text("Searching…")
    held[0].abort()

    expect(results.get_by_role("alert")).to_have_text(
        "The search did not reach the server. Check the connection and try again."
    )
    expect(results).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#search-busy")).not_to_have_class(re.compile("htmx-request"))
    page.get_by_label("Search text").fill("sea note")
    expect(page.locator("#search-status")).to_have_text("Searching…")
    held[1].fulfill(status=500, body="<h1>Server Error (500)</h1>")
    expect(results.get_by_role("alert")).to_have_text(
        "The search failed on the server (error 500). Try again in a moment."
    )


def test_an_over_long_query_says_why_in_place(page: Page, live_server, notes: list[str]) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/")

    page.get_by_label("Search text").fill("sea " * 600)

    expect(page.locator("#results").get_by_role("alert")).to_have_text(
        "The search text is too long: at most 2000 characters (it has 2399)."
    )


def test_a_file_search_that_fails_says_why_and_stops_saying_it_is_searching(
    page: Page, live_server, notes: list[str], settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_FILE_RATE_LIMIT_PER_MINUTE = 1
    query = tmp_path / "horse.png"
    query.write_bytes(make_image("png"))
    page.goto(f"{live_server.url}/")
    results = page.locator("#results")
    page.route("**/search/file", lambda route: route.fulfill(status=502, body="Bad gateway"))

    drop_files(page, "#dropzone", (query, "image/png"))

    expect(results.get_by_role("alert")).to_have_text(
        "The search with horse.png failed on the server (error 502). Try again in a moment."
    )
    expect(results.get_by_text("Searching with horse.png…")).to_have_count(0)
    page.unroute("**/search/file")
    drop_files(page, "#dropzone", (query, "image/png"))
    expect(results.get_by_role("heading", name="Results for horse.png")).to_be_visible()
    drop_files(page, "#dropzone", (query, "image/png"))
    expect(results.get_by_role("alert")).to_contain_text(
        "Too many searches by file from your address: at most 1 a minute."
    )
    expect(results.get_by_role("alert")).not_to_contain_text("query_file")


def test_of_several_files_dropped_the_page_says_which_was_searched(
    page: Page, live_server, notes: list[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    paths = [tmp_path / "first.png", tmp_path / "second.png"]
    for number, path in enumerate(paths):
        path.write_bytes(make_image("png", size=(64 + number, 64)))
    page.goto(f"{live_server.url}/")

    drop_files(page, "#dropzone", *((path, "image/png") for path in paths))

    results = page.locator("#results")
    expect(results.get_by_role("heading", name="Results for first.png")).to_be_visible()
    expect(results).to_contain_text(
        "Searched with first.png, the first of the 2 files: one file is searched at a time."
    )


def test_the_viewer_goes_through_the_results_by_keyboard_and_swipe(
    page: Page, live_server, notes: list[str], settings
) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_PAGE_SIZE = 24
    page.goto(f"{live_server.url}/?q=sea+note")
    results = page.locator("#results")
    order = titles(results)
    first = results.locator(".card-media").first
    dialog = page.get_by_role("dialog")

    first.focus()
    assert first.evaluate("(link) => getComputedStyle(link).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("heading", name=order[0])).to_be_visible()
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    expect(dialog.locator("#viewer-position")).to_have_text("1 of 5")
    page.keyboard.press("ArrowRight")
    expect(dialog.get_by_role("heading", name=order[1])).to_be_visible()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")  # the first has no previous
    expect(dialog.get_by_role("heading", name=order[0])).to_be_visible()
    for _ in range(8):
        page.keyboard.press("Tab")
        assert page.evaluate("() => Boolean(document.activeElement.closest('dialog'))")
    expect(dialog.get_by_role("link", name="Open the item page")).to_have_attribute(
        "href", re.compile(r"^/items/\d+/$")
    )
    swipe(page, "#viewer-content", dx=-120)
    expect(dialog.get_by_role("heading", name=order[1])).to_be_visible()
    screenshot(page, "viewer-keyboard", full_page=False)
    page.keyboard.press("Escape")

    expect(dialog).to_be_hidden()
    expect(results.locator(".card-media").nth(1)).to_be_focused()


def swipe(page: Page, selector: str, *, dx: int) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for kind, at in (("pointerdown", x), ("pointerup", x + dx)):
        page.dispatch_event(selector, kind, {"clientX": at, "clientY": y, "pointerType": "touch"})


def test_a_tag_link_lists_every_item_with_that_tag(page: Page, live_server, model) -> None:  # type: ignore[no-untyped-def]
    alone, _ = item_add_text(text="Alone with its tag", details=ItemDetails(tags=["lonely"]))
    item_add_text(text="Another note")

    page.goto(f"{live_server.url}/items/{alone.pk}/")
    page.get_by_role("link", name="lonely").click()

    results = page.locator("#results")
    expect(page).to_have_url(re.compile(r"/\?tag=lonely$"))
    expect(results.get_by_role("heading", name="Tagged “lonely”")).to_be_visible()
    assert titles(results) == ["Alone with its tag"]


LONG_NAME = "a-very-long-file-name-from-a-camera-that-never-ends-IMG_20240101_123456.png"


def test_the_grid_is_even_and_a_phone_shows_two_columns_from_the_first_screen(
    page: Page, live_server, model
) -> None:  # type: ignore[no-untyped-def]
    for name, size in (
        ("tall.png", (300, 900)),
        ("wide.png", (1600, 300)),
        ("tiny.png", (40, 30)),
        (LONG_NAME, (640, 480)),
    ):
        item_add_file(data=make_image("png", size=size), filename=name)
    item_add_text(text="A note among the pictures")
    page.goto(f"{live_server.url}/")
    results = page.locator("#results")
    expect(results.locator(".card")).to_have_count(5)

    heights = {round(box["height"]) for box in boxes(results.locator(".card-visual"))}
    tiny = results.locator(".card", has_text="tiny.png").locator("img")
    long_title = results.locator(".card-title", has_text="a-very-long")
    assert len(heights) == 1
    expect(tiny).to_have_js_property("complete", True)
    assert tiny.evaluate("(image) => image.getBoundingClientRect().width") == 40
    assert long_title.evaluate("(title) => title.scrollWidth > title.clientWidth")
    expect(long_title).to_have_attribute("title", LONG_NAME)

    page.set_viewport_size(PHONE)
    header = boxes(page.locator(".brand, #menu-button"))
    controls = boxes(page.locator("#id_q, .file-pick, #record"))
    cards = boxes(results.locator(".card"))
    screenshot(page, "phone-grid")
    assert abs(header[0]["y"] - header[1]["y"]) < 8 and header[0]["height"] < 40
    assert len({round(box["y"]) for box in controls}) == 1
    assert cards[0]["y"] < PHONE["height"] / 2
    assert cards[0]["y"] == cards[1]["y"] and cards[1]["x"] > cards[0]["x"]
    assert cards[2]["y"] > cards[0]["y"]
    expect(page.get_by_label("Minimum similarity")).to_be_hidden()
    expect(page.get_by_role("link", name="Upload")).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="Upload")).to_be_visible()


def boxes(locator: Locator) -> list[dict[str, float]]:
    found = [element.bounding_box() for element in locator.all()]
    assert all(box is not None for box in found)
    return [box for box in found if box is not None]


def test_words_then_an_image_search_together_and_words_typed_next_refine_the_image(
    page: Page, live_server, notes: list[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    query = picture(tmp_path / "harbour.png")
    page.goto(f"{live_server.url}/")
    results = page.locator("#results")
    box = page.get_by_label("Search text")

    box.fill("at night")
    drop_files(page, "#dropzone", (query, "image/png"))
    expect(results.get_by_role("heading")).to_have_text("Results for harbour.png + “at night”")
    expect(results.locator(".card")).to_have_count(2)
    box.fill("in the fog")
    expect(page.locator("#search-status")).to_have_text(
        "Press Enter to search this image with your words."
    )
    box.press("Enter")

    expect(results.get_by_role("heading")).to_have_text("Results for harbour.png + “in the fog”")
    page.reload()
    expect(results.get_by_role("heading")).to_have_text("Results for harbour.png + “in the fog”")
    expect(results.locator(".card")).to_have_count(2)


def test_less_like_this_takes_a_result_away_and_its_chip_brings_it_back(
    page: Page, live_server, notes: list[str], settings
) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_PAGE_SIZE = 24
    page.goto(f"{live_server.url}/?q=sea+note")
    results = page.locator("#results")
    order = titles(results)

    less_like(results, order[0]).click()
    expect(results.locator(".card")).to_have_count(4)
    assert order[0] not in titles(results)
    less_like(results, order[1]).click()
    expect(results.locator(".card")).to_have_count(3)
    expect(results.locator(".excluded .chip-link")).to_have_count(2)
    page.go_back()
    expect(results.locator(".card")).to_have_count(4)
    results.locator(".excluded .chip-link").first.click()

    expect(results.locator(".card")).to_have_count(5)
    expect(results.locator(".excluded")).to_have_count(0)


def less_like(results: Locator, title: str) -> Locator:
    card = results.locator(".card").filter(has=results.page.get_by_text(title, exact=True))
    return card.get_by_role("link", name="Less like this")
