"""Every page and state at desktop and phone sizes: screenshots to look at, and axe-core."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractBaseUser
from PIL import Image, ImageDraw
from playwright.sync_api import Page, ViewportSize, expect

from bench.media_factory import make_audio
from searchapp.models import Item
from searchapp.services.items import ItemDetails, item_add_file, item_add_text
from tests.e2e.conftest import DESKTOP, PHONE, accessibility_violations, birdsong, screenshot
from tests.e2e.test_browser import PASSWORD, drop_files, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def scene(kind: str, *, size: tuple[int, int] = (960, 640)) -> bytes:
    """A simple picture (sky and sea, a forest, city lights) so the screenshots show a library."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    palettes = {
        "dawn": ((255, 183, 120), (90, 120, 200)),
        "forest": ((190, 220, 200), (30, 90, 50)),
        "night": ((15, 20, 50), (60, 40, 90)),
        "sea": ((170, 210, 245), (20, 80, 150)),
    }
    top, bottom = palettes[kind]
    for y in range(height):
        mix = y / height
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(round(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)),
        )
    if kind in ("dawn", "sea"):
        draw.ellipse(
            [width * 0.6, height * 0.2, width * 0.75, height * 0.2 + width * 0.15],
            fill=(255, 236, 170),
        )
        for row in range(8):
            y = height * 0.6 + row * height * 0.05
            draw.line([(0, y), (width, y + 8 * math.sin(row))], fill=(230, 240, 255), width=2)
    if kind == "forest":
        for x in range(0, width, max(width // 9, 1)):
            draw.polygon(
                [(x, height), (x + width / 18, height * 0.35), (x + width / 9, height)],
                fill=(20, 70 + x % 60, 40),
            )
    if kind == "night":
        for x in range(0, width, max(width // 14, 1)):
            tower = height * (0.35 + 0.3 * ((x * 7919) % 10) / 10)
            draw.rectangle([x, tower, x + width / 16, height], fill=(25, 25, 40))
            for light in range(int(tower) + 10, height - 10, 24):
                draw.rectangle([x + 6, light, x + 12, light + 8], fill=(250, 210, 120))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def fill_library(curator: AbstractBaseUser) -> None:
    def image(name: str, data: bytes, tags: list[str]) -> None:
        item_add_file(data=data, filename=name, details=ItemDetails(tags=tags), added_by=curator)

    image("harbour-at-dawn.jpg", scene("dawn"), ["harbour", "sea"])
    image("forest-path.jpg", scene("forest", size=(640, 960)), ["walks"])
    image(
        "city-lights-over-the-river-on-a-winter-night-from-the-old-bridge.jpg",
        scene("night"),
        ["city"],
    )
    image("icon.jpg", scene("sea", size=(48, 40)), ["sea"])
    image("panorama-of-the-bay.jpg", scene("sea", size=(1800, 300)), ["sea", "harbour"])
    item_add_file(
        data=birdsong(12.0),
        filename="gulls-over-the-harbour.flac",
        details=ItemDetails(tags=["harbour", "birds"]),
        added_by=curator,
    )
    item_add_file(
        data=make_audio("wav", seconds=4.0, frequency=330.0),
        filename="rain-on-the-roof.wav",
        details=ItemDetails(tags=["weather"]),
        added_by=curator,
    )
    for text, tags in (
        ("Gulls circling over the harbour at dawn, fishing boats coming in.", ["harbour"]),
        ("Rain on the tin roof of the boathouse all night; the gutters overflowed.", ["weather"]),
        ("Walk: from the bridge along the river to the forest path, two hours.", ["walks"]),
    ):
        item_add_text(text=text, details=ItemDetails(tags=tags), added_by=curator)


def check(page: Page, name: str, *, full_page: bool = True) -> None:
    # Images in view (the viewer's too) have loaded, so the screenshot shows them.
    page.wait_for_function(
        """() => [...document.images]
            .filter((image) => image.getBoundingClientRect().top < innerHeight)
            .every((image) => image.complete)"""
    )
    screenshot(page, name, full_page=full_page)
    assert accessibility_violations(page) == [], name


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_and_state_passes_axe(
    page: Page, live_server, django_user_model, tmp_path: Path, viewport: ViewportSize
) -> None:  # type: ignore[no-untyped-def]
    size = "desktop" if viewport == DESKTOP else "phone"
    page.set_viewport_size(viewport)
    base = live_server.url
    results = page.locator("#results")
    curator = django_user_model.objects.create_superuser("curator", "c@example.com", PASSWORD)

    page.goto(f"{base}/")
    expect(results.get_by_text("The library is empty")).to_be_visible()
    check(page, f"{size}-library-empty")
    page.goto(f"{base}/accounts/login/")
    check(page, f"{size}-login")
    page.goto(f"{base}/nowhere/")
    check(page, f"{size}-not-found")

    fill_library(curator)
    page.goto(f"{base}/")
    expect(results.locator(".card")).to_have_count(10)
    check(page, f"{size}-library")
    page.goto(f"{base}/?tag=harbour")
    expect(results.locator(".card")).to_have_count(4)
    check(page, f"{size}-library-tag")

    page.goto(f"{base}/?min_score=-1")
    page.get_by_label("Search text").fill("harbour")
    expect(results.get_by_role("heading", name="Results for “harbour”")).to_be_visible()
    check(page, f"{size}-search-results")
    results.locator(".card-media").first.click()
    viewer = page.get_by_role("dialog")
    expect(viewer.get_by_role("link", name="Open the item page")).to_be_visible()
    check(page, f"{size}-viewer", full_page=False)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(viewer.locator("#viewer-position")).to_have_text("3 of 10")
    third = results.locator(".card-title").nth(2).inner_text()
    expect(viewer.get_by_role("heading", name=third)).to_be_visible()
    check(page, f"{size}-viewer-third", full_page=False)
    page.keyboard.press("Escape")
    results.locator(".card-audio .card-media").first.click()
    expect(viewer.locator("svg.waveform")).to_be_visible()
    check(page, f"{size}-viewer-audio", full_page=False)
    page.keyboard.press("Escape")
    note = Item.objects.get(text__startswith="Gulls circling")
    page.goto(f"{base}/?q=harbour&min_score=-1&exclude={note.pk}")
    expect(results.locator(".excluded .chip-link")).to_have_count(1)
    check(page, f"{size}-search-less-like")

    query = tmp_path / "boat-at-sea.jpg"
    query.write_bytes(scene("sea", size=(400, 300)))
    drop_files(page, "#dropzone", (query, "image/jpeg"))
    expect(results.get_by_role("heading", name="Results for boat-at-sea.jpg")).to_be_visible()
    check(page, f"{size}-search-file")
    page.get_by_label("Search text").fill("at night")
    page.get_by_label("Search text").press("Enter")
    expect(results.get_by_role("heading")).to_have_text("Results for boat-at-sea.jpg + “at night”")
    check(page, f"{size}-search-file-with-words")

    page.goto(f"{base}/?q=harbour&min_score=0.99&semantic=on")
    expect(results.get_by_role("link", name="Show weaker matches")).to_be_visible()
    check(page, f"{size}-search-nothing-close")

    sign_in(page, base, "curator")
    check(page, f"{size}-upload")
    item = Item.objects.get(original_filename="harbour-at-dawn.jpg")
    page.goto(f"{base}/items/{item.pk}/")
    check(page, f"{size}-item")
    copy = io.BytesIO()
    Image.open(io.BytesIO(scene("dawn"))).save(copy, format="PNG")
    item_add_file(data=copy.getvalue(), filename="harbour-at-dawn-copy.png", added_by=curator)
    page.goto(f"{base}/duplicates/")
    # The test model sees every picture as much alike: one group holds the copy and more.
    expect(page.locator(".grid .card-title", has_text="harbour-at-dawn-copy.png")).to_be_visible()
    check(page, f"{size}-duplicates")
