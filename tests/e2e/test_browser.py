from __future__ import annotations

import base64
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import JSHandle, Page, Route, expect

from bench.media_factory import make_audio, make_image
from searchapp.models import Item
from searchapp.services.items import items_set_hidden
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-password-1"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "image": tmp_path / "harbour.png",
        "audio": tmp_path / "gulls.mp3",
        "query_image": tmp_path / "query.jpg",
        "query_audio": tmp_path / "query.wav",
    }
    paths["image"].write_bytes(make_image("png", size=(640, 420)))
    paths["audio"].write_bytes(make_audio("mp3", seconds=12.0))
    paths["query_image"].write_bytes(make_image("jpeg", size=(300, 200)))
    paths["query_audio"].write_bytes(make_audio("wav", seconds=3.0, frequency=660.0))
    return paths


def data_transfer(page: Page, *files: tuple[Path, str]) -> JSHandle:
    payload = [
        [base64.b64encode(path.read_bytes()).decode(), path.name, mime] for path, mime in files
    ]
    return page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [data, name, type] of files) {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, {type}));
            }
            return transfer;
        }""",
        payload,
    )


def drop_files(page: Page, selector: str, *files: tuple[Path, str]) -> None:
    """Drop files on an element as a person dragging them from their desktop would."""
    transfer = data_transfer(page, *files)
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def paste_file(page: Page, path: Path, mime: str) -> None:
    transfer = data_transfer(page, (path, mime))
    page.evaluate(
        "(data) => document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data}))",
        transfer,
    )


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/?next=/upload/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Add to the library")).to_be_visible()


def show_every_match(page: Page) -> None:
    page.locator(".more-filters summary").click()
    page.get_by_label("Minimum similarity").fill("-1")


def test_upload_search_and_curate_in_a_browser(
    page: Page,
    live_server,
    django_user_model,
    files: dict[str, Path],
    model,  # type: ignore[no-untyped-def]
) -> None:
    django_user_model.objects.create_superuser("curator", "curator@example.com", PASSWORD)
    base = live_server.url

    sign_in(page, base, "curator")
    drop_files(page, "#upload-drop", (files["image"], "image/png"), (files["audio"], "audio/mpeg"))
    recent = page.locator("#recent")
    expect(recent.locator(".upload-row.status-ready")).to_have_count(2)
    page.get_by_label("Text", exact=True).fill("Gulls circling over the harbour at dawn")
    page.get_by_label("Tags").fill("harbour, birds")
    page.get_by_role("button", name="Add note").click()
    expect(recent.locator(".upload-row.status-ready")).to_have_count(3)
    expect(page.get_by_label("Text", exact=True)).to_have_value("")
    screenshot(page, "upload")

    page.goto(f"{base}/")
    show_every_match(page)
    page.get_by_label("Search text").fill("harbour")
    results = page.locator("#results")
    for modality in ("image", "audio", "text"):
        expect(results.locator(f".card-{modality}")).to_have_count(1)
    expect(results.locator(".card-image img")).to_be_visible()
    screenshot(page, "search-text")

    drop_files(page, "#dropzone", (files["query_image"], "image/jpeg"))
    expect(results.get_by_role("heading", name="Results for query.jpg")).to_be_visible()
    expect(results.locator(".card")).to_have_count(3)
    screenshot(page, "search-image")

    drop_files(page, "#dropzone", (files["query_audio"], "audio/wav"))
    expect(results.get_by_role("heading", name="Results for query.wav")).to_be_visible()
    expect(results.locator(".card")).to_have_count(3)

    paste_file(page, files["query_image"], "image/jpeg")
    expect(results.get_by_role("heading", name="Results for query.jpg")).to_be_visible()
    expect(results.locator(".card")).to_have_count(3)

    record = page.locator("#record")
    record.click()
    expect(record).to_have_attribute("aria-pressed", "true")
    expect(record).to_have_text("Stop and search")
    page.wait_for_timeout(1500)
    record.click()
    expect(results.get_by_role("heading", name="Results for recording.webm")).to_be_visible()
    expect(results.locator(".card")).to_have_count(3)

    results.locator(".card-text").get_by_role("link", name="More like this").click()
    expect(results.get_by_role("heading", level=2)).to_contain_text("More like")
    expect(results.locator(".card")).to_have_count(2)

    image = Item.objects.get(modality="image")
    page.goto(f"{base}/items/{image.pk}/")
    expect(page.get_by_role("heading", name="Nearest neighbours")).to_be_visible()
    screenshot(page, "item")

    page.goto(f"{base}/admin/searchapp/item/")
    page.locator(f'input[name="_selected_action"][value="{image.pk}"]').check()
    page.locator('select[name="action"]').select_option("hide")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("Hid 1 items.")).to_be_visible()
    screenshot(page, "admin")

    page.goto(f"{base}/")
    show_every_match(page)
    page.get_by_label("Search text").fill("harbour")
    expect(results.locator(".card")).to_have_count(2)
    expect(results.locator(".card-image")).to_have_count(0)


def test_a_visitor_can_search_but_must_sign_in_to_upload(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/upload/")

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Find anything by anything")).to_be_visible()
    expect(page.get_by_label("Search text")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search with a file")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Record")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Search", exact=True)).to_be_focused()
    screenshot(page, "search-empty")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="Record")).to_be_in_viewport()
    screenshot(page, "search-phone")


def test_a_picked_file_name_is_shown_as_text_not_html(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    held: list[Route] = []
    page.route("**/search/file", lambda route: held.append(route))
    page.goto(f"{live_server.url}/")
    name = '<img src=x id=injected onerror="document.title=1">.png'

    page.set_input_files(
        "#query-file", files=[{"name": name, "mimeType": "image/png", "buffer": make_image("png")}]
    )

    results = page.locator("#results")
    expect(results.get_by_role("status")).to_have_text(f"Searching with {name}…")
    expect(page.locator("#injected")).to_have_count(0)
    held[0].abort()
    expect(results.get_by_role("alert")).to_contain_text("did not reach the server")


def test_too_many_searches_are_refused_in_place(
    page: Page,
    live_server,
    settings,
    monkeypatch: pytest.MonkeyPatch,
    model,  # type: ignore[no-untyped-def]
) -> None:
    settings.SEARCH_RATE_LIMIT_PER_MINUTE = 1
    moment = timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr("embeddings.ratelimit.timezone.now", lambda: moment)
    page.goto(f"{live_server.url}/")
    results = page.locator("#results")

    page.get_by_label("Search text").fill("harbour")
    expect(results.get_by_role("heading", name="Results for “harbour”")).to_be_visible()
    expect(results.get_by_text("The library is empty")).to_be_visible()
    page.get_by_label("Search text").fill("harbour seals")

    refusal = results.get_by_role("alert")
    expect(refusal).to_contain_text("Too many searches from your address: at most 1 a minute.")
    expect(refusal).to_contain_text("Try again in 30 seconds.")
    screenshot(page, "search-rate-limited")


def test_a_refused_note_says_why_beside_the_form(page: Page, live_server, user, model) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server.url, user.username)
    note = page.get_by_label("Text", exact=True)
    recent = page.locator("#recent")
    note.fill("   ")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note-error").get_by_role("alert")).to_have_text(
        "A note needs some text: spaces alone are not a note."
    )
    note.fill("Rain on the tin roof of the boathouse")
    page.get_by_role("button", name="Add note").click()
    expect(recent.get_by_text("Rain on the tin roof of the boathouse")).to_be_visible()
    expect(page.locator("#note-error")).to_be_empty()
    items_set_hidden(items=Item.objects.all(), hidden=True)

    note.fill("Rain on the tin roof of the boathouse")
    page.get_by_role("button", name="Add note").click()

    refusal = page.locator("#note-error").get_by_role("alert")
    expect(refusal).to_contain_text("is not available; it cannot be added again")
    expect(recent.get_by_role("alert")).to_have_count(0)
    screenshot(page, "upload-note-refused")
    note.fill("Gulls over the harbour")
    page.get_by_role("button", name="Add note").click()
    expect(recent.get_by_text("Gulls over the harbour")).to_be_visible()
    expect(page.locator("#note-error")).to_be_empty()
