"""The library's items in a browser: uploads that wait for the model, failed rows, the item
page (image, audio with its waveform, text), what its uploader does there, the 404 page."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bench.media_factory import make_audio, make_image
from bench.processes import Processes
from searchapp.models import Item, Status
from searchapp.services.items import ItemDetails, item_add_file, item_add_text
from tests.e2e.conftest import DESKTOP, PHONE, accessibility_violations, birdsong, screenshot
from tests.e2e.test_browser import drop_files, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LEASE_SEC = "3"


def look_at(page: Page, name: str) -> None:
    """Screenshots at both widths, and axe-core finds nothing serious or critical at either."""
    for width, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        screenshot(page, f"{name}-{width}")
        assert accessibility_violations(page) == [], f"{name}-{width}"
    page.set_viewport_size(DESKTOP)


def test_an_upload_made_while_the_model_is_missing_waits_and_ends_ready_once_a_worker_has_it(
    page: Page,
    live_server,
    processes: Processes,
    user,
    settings,
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    missing = str(tmp_path / "no-model-here")
    settings.EMBEDDINGS_MODEL = missing  # this server's pages, as the worker's below
    stuck = processes.worker(EMBEDDINGS_MODEL=missing, EMBEDDING_JOB_LEASE_SEC=LEASE_SEC)
    clip = tmp_path / "gulls.flac"
    clip.write_bytes(make_audio("flac", seconds=6.0))
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, user.username)

    drop_files(page, "#upload-drop", (clip, "audio/flac"))

    recent = page.locator("#recent")
    row = recent.locator(".upload-row", has_text="gulls.flac")
    expect(row.get_by_role("status")).to_have_text("Waiting for the model", timeout=60_000)
    expect(page.get_by_text("Waiting items are embedded on their own")).to_be_visible()
    Item.objects.create(
        modality="text",
        text="a note the server could not embed",
        content_hash="f" * 64,
        status=Status.FAILED,
        error_message="an error on the server stopped the embedding (5 attempts).",
        added_by=user,
    )
    page.reload()
    expect(recent.locator(".status-failed")).to_contain_text(
        "An error on the server stopped the embedding (5 attempts)."
    )
    expect(page.get_by_text("use Retry, or upload the same file again")).to_be_visible()
    look_at(page, "upload-waiting-and-failed")

    stuck.send_signal(signal.SIGKILL)
    stuck.wait()
    processes.worker(EMBEDDING_JOB_LEASE_SEC=LEASE_SEC)

    expect(row.get_by_role("status")).to_have_text("Ready", timeout=120_000)
    expect(row.get_by_role("img", name="Waveform of gulls.flac, 6.0 s")).to_be_visible()
    expect(page.get_by_text("Waiting items are embedded on their own")).to_be_hidden()


def test_a_failed_row_is_retried_in_place(page: Page, live_server, user, model) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_text(text="the boathouse at night", added_by=user)
    Item.objects.filter(pk=item.pk).update(
        status=Status.FAILED, error_message="an error on the server stopped the embedding."
    )
    sign_in(page, live_server.url, user.username)
    row = page.locator(f"#item-row-{item.pk}")

    row.get_by_role("button", name="Retry the boathouse at night").click()

    expect(row.get_by_role("status")).to_have_text("Ready")
    expect(row.get_by_role("button")).to_have_count(0)


def test_item_pages_show_each_kind_and_let_the_uploader_edit_hide_and_delete(
    page: Page, live_server, user, model
) -> None:  # type: ignore[no-untyped-def]
    base = live_server.url
    details = ItemDetails(title="Harbour at dawn", description="From the pier", tags=["harbour"])
    photo, _ = item_add_file(
        data=make_image("jpeg", size=(3200, 2100)),
        filename="IMG_2041.jpg",
        details=details,
        added_by=user,
    )
    clip, _ = item_add_file(
        data=birdsong(25.0),
        filename="gulls-at-dawn.flac",
        added_by=user,
    )
    note, _ = item_add_text(
        text="Gulls circling over the harbour at dawn, the fishing boats coming in one by one.",
        details=ItemDetails(title="Dawn notes", tags=["harbour", "birds"]),
        added_by=user,
    )
    page.set_viewport_size(DESKTOP)

    page.goto(f"{base}/items/{photo.pk}/")
    image = page.get_by_role("img", name="Harbour at dawn")
    expect(image).to_have_attribute("src", f"/items/{photo.pk}/preview")
    expect(page.get_by_role("link", name="Download the original")).to_be_visible()
    look_at(page, "item-image")

    page.goto(f"{base}/items/{clip.pk}/")
    waveform = page.get_by_role("img", name="Waveform of gulls-at-dawn.flac, 25.0 s")
    expect(waveform).to_be_visible()
    page.wait_for_function("document.getElementById('item-audio').duration > 0")
    box = waveform.bounding_box()
    assert box is not None
    waveform.click(position={"x": box["width"] * 0.6, "y": box["height"] / 2})
    played = page.evaluate("document.getElementById('item-audio').currentTime")
    assert 14.5 <= played <= 16.5  # 60 % of 25 s
    played_part = page.locator(".waveform-played")
    expect(played_part).not_to_have_attribute("width", "0")
    look_at(page, "item-audio")

    page.goto(f"{base}/items/{note.pk}/")
    expect(page.get_by_role("heading", name="Dawn notes")).to_be_visible()
    look_at(page, "item-text")

    sign_in(page, base, user.username)
    page.goto(f"{base}/items/{note.pk}/")
    page.get_by_text("Edit title, description and tags").click()
    page.get_by_label("Title").fill("Dawn at the harbour")
    page.get_by_label("Description").fill("Written on the pier")
    look_at(page, "item-owner-editing")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Dawn at the harbour")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    assert Item.objects.get(pk=note.pk).description == "Written on the pier"

    page.get_by_role("button", name="Hide from search").click()
    expect(page.get_by_text("only you and staff can open it")).to_have_count(1)
    expect(page.get_by_role("button", name="Show in search")).to_be_visible()

    page.get_by_text("Delete…").click()
    page.get_by_role("button", name="Delete for good").click()
    expect(page.locator(".messages").get_by_role("status")).to_have_text(
        "Deleted “Dawn at the harbour” and its file."
    )
    assert not Item.objects.filter(pk=note.pk).exists()


def test_a_missing_page_is_the_sites_own(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(DESKTOP)
    response = page.goto(f"{live_server.url}/items/424242/")

    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    page.get_by_role("link", name="Search the library").click()
    expect(page.get_by_role("heading", name="Find anything by anything")).to_be_visible()
    page.goto(f"{live_server.url}/items/424242/")
    look_at(page, "not-found")
