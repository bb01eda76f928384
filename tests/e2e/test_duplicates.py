from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from bench.media_factory import make_audio, make_image
from searchapp.models import NearDuplicate
from searchapp.services.items import item_add_file, item_add_text
from tests.e2e.conftest import screenshot
from tests.searchapp.test_views_duplicates import link

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-password-1"


def test_near_duplicates_are_grouped_with_links_to_each_item(
    page: Page, live_server, django_user_model, model
) -> None:  # type: ignore[no-untyped-def]
    django_user_model.objects.create_user("reader", password=PASSWORD)
    pictures = [
        item_add_file(data=make_image(fmt, size=(640, 420)), filename=f"harbour.{fmt}")[0]
        for fmt in ("png", "jpeg", "webp")
    ]
    clips = [
        item_add_file(data=make_audio(fmt, seconds=3.0), filename=f"gulls.{fmt}")[0]
        for fmt in ("wav", "mp3")
    ]
    notes = [
        item_add_text(text="Call the plumber about the kitchen tap on Monday")[0],
        item_add_text(text="Call the plumber about the kitchen tap on Monday.")[0],
    ]
    item_add_text(text="A note with no twin")
    # The groups this test shows, whatever the test model made of these items.
    NearDuplicate.objects.all().delete()
    link(*pictures, score=0.991)
    link(*clips, score=0.991)
    link(*notes, score=0.991)
    page.set_viewport_size({"width": 1366, "height": 900})

    page.goto(f"{live_server.url}/duplicates/")
    page.get_by_label("User name").fill("reader")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Near duplicates")).to_be_visible()
    groups = page.locator("section", has=page.get_by_role("heading", name="near-identical items"))
    expect(groups).to_have_count(3)
    expect(groups.nth(0).locator(".card")).to_have_count(2)
    expect(groups.nth(0).locator(".card-text")).to_have_count(2)
    expect(groups.nth(2).locator(".card-image img")).to_have_count(3)
    expect(page.get_by_text("A note with no twin")).to_have_count(0)
    screenshot(page, "duplicates")

    page.set_viewport_size({"width": 390, "height": 844})
    expect(groups.nth(0).locator(".card").first).to_be_in_viewport()
    screenshot(page, "duplicates-phone")

    groups.nth(2).get_by_role("link", name="harbour.jpeg").last.click()
    expect(page.get_by_role("heading", name="harbour.jpeg")).to_be_visible()
