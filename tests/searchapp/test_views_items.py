"""The item page and what its uploader (and staff) do there: edit, hide and show, delete, retry."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from bench.media_factory import make_audio, make_image
from searchapp.models import Item, ItemEmbedding, Status
from searchapp.services.embedding import item_fail
from searchapp.services.items import item_add_file, item_add_text, items_set_hidden
from searchapp.thumbnails import PREVIEW_SIDE

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-password-1"


@pytest.fixture
def owner(user):  # type: ignore[no-untyped-def]
    return user


@pytest.fixture
def owner_client(user_client: Client) -> Client:
    return user_client


@pytest.fixture
def other_client(django_user_model) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(django_user_model.objects.create_user("other", password=PASSWORD))
    return client


@pytest.fixture
def note(owner) -> Item:  # type: ignore[no-untyped-def]
    return item_add_text(text="gulls over the harbour", added_by=owner)[0]


def test_the_owner_edits_title_description_and_tags_and_search_finds_the_new_words(
    owner_client: Client, note: Item
) -> None:
    response = owner_client.post(
        f"/items/{note.pk}/edit",
        {"title": "Dawn chorus", "description": "From the pier", "tags": "Birds, sea"},
    )

    assert response.status_code == 302 and response["Location"] == f"/items/{note.pk}/"
    note.refresh_from_db()
    assert (note.title, note.description, note.tags) == (
        "Dawn chorus",
        "From the pier",
        ["birds", "sea"],
    )
    assert Item.objects.filter(search_document="chorus").get() == note
    assert ItemEmbedding.objects.get(item=note).tags == ["birds", "sea"]
    assert "Saved." in owner_client.get(f"/items/{note.pk}/").content.decode()


def test_an_edit_through_htmx_answers_the_details_in_place(
    owner_client: Client, note: Item
) -> None:
    response = owner_client.post(
        f"/items/{note.pk}/edit", {"title": "Dawn chorus", "tags": ""}, HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith('<div class="details" id="item-details">')
    assert "<h1>Dawn chorus</h1>" in html and "Saved." in html


def test_an_edit_that_is_too_long_is_a_400_that_says_why(owner_client: Client, note: Item) -> None:
    response = owner_client.post(f"/items/{note.pk}/edit", {"description": "x" * 5001})

    assert response.status_code == 400
    assert "at most 5000 characters" in response.content.decode()
    assert Item.objects.get(pk=note.pk).description == ""


ACTIONS = [
    ("edit", {"title": "mine now"}),
    ("hide", {}),
    ("show", {}),
    ("delete", {}),
    ("retry", {}),
]


@pytest.mark.parametrize(("action", "fields"), ACTIONS)
def test_other_users_may_not_change_an_item(
    other_client: Client, note: Item, action: str, fields: dict[str, str]
) -> None:
    response = other_client.post(f"/items/{note.pk}/{action}", fields)

    assert response.status_code == 403
    assert "Only the uploader or staff can change this item." in response.content.decode()
    assert Item.objects.get(pk=note.pk).title == ""
    assert not Item.objects.get(pk=note.pk).hidden


@pytest.mark.parametrize(("action", "fields"), ACTIONS)
def test_visitors_are_sent_to_sign_in_and_nothing_changes(
    note: Item, action: str, fields: dict[str, str]
) -> None:
    response = Client().post(f"/items/{note.pk}/{action}", fields)

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Item.objects.filter(pk=note.pk, title="", hidden=False).exists()


@pytest.mark.parametrize(("action", "fields"), ACTIONS)
def test_no_one_changes_an_item_a_curator_hid_but_staff(
    owner_client: Client, admin_client: Client, note: Item, action: str, fields: dict[str, str]
) -> None:
    items_set_hidden(items=Item.objects.filter(pk=note.pk), hidden=True)

    assert owner_client.post(f"/items/{note.pk}/{action}", fields).status_code == 404
    assert admin_client.post(f"/items/{note.pk}/{action}", fields).status_code == 302


def test_actions_need_a_post_with_the_csrf_token(owner: object, note: Item) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    assert client.get(f"/items/{note.pk}/hide").status_code == 405
    assert client.post(f"/items/{note.pk}/hide").status_code == 403
    assert not Item.objects.get(pk=note.pk).hidden


def test_the_owner_hides_an_item_and_still_opens_it_while_others_get_a_404(
    owner_client: Client, other_client: Client, note: Item
) -> None:
    response = owner_client.post(f"/items/{note.pk}/hide", follow=True)

    assert "only you and staff can open it" in response.content.decode()
    assert Item.objects.get(pk=note.pk).hidden_by_owner
    assert other_client.get(f"/items/{note.pk}/").status_code == 404
    assert Client().get(f"/items/{note.pk}/").status_code == 404
    page = owner_client.get(f"/items/{note.pk}/").content.decode()
    assert "Show in search" in page

    owner_client.post(f"/items/{note.pk}/show")

    assert not Item.objects.get(pk=note.pk).hidden
    assert Client().get(f"/items/{note.pk}/").status_code == 200


def test_a_curators_hide_stands_against_the_owner(
    owner_client: Client, admin_client: Client, note: Item
) -> None:
    admin_client.post(f"/items/{note.pk}/hide")

    for path in (f"/items/{note.pk}/", f"/items/{note.pk}/row", f"/items/{note.pk}/show"):
        response = owner_client.post(path) if path.endswith("show") else owner_client.get(path)
        assert response.status_code in (404, 286)
    assert Item.objects.get(pk=note.pk).hidden


def test_the_owner_deletes_an_item_with_its_files(owner_client: Client, owner, settings) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_image("png"), filename="a.png", added_by=owner)

    response = owner_client.post(f"/items/{item.pk}/delete", follow=True)

    assert response.redirect_chain == [("/upload/", 302)]
    assert "Deleted “a.png” and its file." in response.content.decode()
    assert not Item.objects.exists()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_the_owner_retries_a_failed_item_from_its_page_and_it_ends_ready(
    owner_client: Client, note: Item
) -> None:
    item_fail(item_id=note.pk, reason="an error on the server stopped the embedding (5 attempts).")
    page = owner_client.get(f"/items/{note.pk}/").content.decode()
    assert "Retry" in page

    response = owner_client.post(f"/items/{note.pk}/retry")

    assert response.status_code == 302
    assert Item.objects.get(pk=note.pk).status == Status.READY


def test_a_failed_row_retried_through_htmx_answers_the_row(
    owner_client: Client, note: Item
) -> None:
    item_fail(item_id=note.pk, reason="an error on the server stopped the embedding (5 attempts).")

    response = owner_client.post(f"/items/{note.pk}/retry", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert f'id="item-row-{note.pk}"' in response.content.decode()
    assert "status-ready" in response.content.decode()


def test_retrying_an_item_that_did_not_fail_changes_nothing(
    owner_client: Client, note: Item
) -> None:
    embedded_at = Item.objects.get(pk=note.pk).embedded_at

    owner_client.post(f"/items/{note.pk}/retry")

    assert Item.objects.get(pk=note.pk).embedded_at == embedded_at


def test_uploading_a_failed_items_file_again_retries_it(other_client: Client, owner) -> None:  # type: ignore[no-untyped-def]
    png = make_image("png")
    item, _ = item_add_file(data=png, filename="a.png", added_by=owner)
    item_fail(item_id=item.pk, reason="an error on the server stopped the embedding (5 attempts).")

    response = other_client.post("/upload/file", {"file": SimpleUploadedFile("a.png", png)})

    assert response.status_code == 200
    assert "already in the library" in response.content.decode()
    assert Item.objects.get(pk=item.pk).status == Status.READY


def test_a_failed_row_shows_a_short_reason_and_the_upload_page_says_how_to_fix_once(
    owner_client: Client, owner
) -> None:  # type: ignore[no-untyped-def]
    long_reason = "could not decode the audio: " + "Invalid data found when processing input " * 10
    for index in range(5):
        item, _ = item_add_text(text=f"note {index}", added_by=owner)
        item_fail(item_id=item.pk, reason=long_reason)

    html = owner_client.get("/upload/").content.decode()

    assert html.count('class="error-text"') == 5
    assert html.count(long_reason) == 0
    assert html.count("Could not decode the audio: Invalid data found") == 5
    assert html.count("use <em>Retry</em>") == 1
    assert html.count('>Retry<span class="visually-hidden">') == 5


def webp_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "WEBP"
        return image.size


def test_a_large_image_is_shown_through_a_display_rendition_and_the_original_downloads(
    settings,
) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_image("png", size=(3000, 2000)), filename="big.png")
    item.refresh_from_db()

    page = Client().get(f"/items/{item.pk}/").content.decode()
    preview = Client().get(f"/items/{item.pk}/preview")
    original = Client().get(f"/items/{item.pk}/media?download")

    assert f'<img src="/items/{item.pk}/preview"' in page
    assert 'width="3000" height="2000"' in page
    assert f'href="/items/{item.pk}/media?download" download>Download the original' in page
    assert webp_size(b"".join(preview.streaming_content)) == (PREVIEW_SIDE, 1365)
    assert original["Content-Disposition"] == 'attachment; filename="big.png"'
    assert (
        b"".join(original.streaming_content)
        == Path(settings.MEDIA_ROOT, item.file.name).read_bytes()
    )


def test_a_small_image_is_shown_as_it_is_and_a_tiff_through_a_rendition() -> None:
    small, _ = item_add_file(data=make_image("png", size=(640, 480)), filename="small.png")
    tiff, _ = item_add_file(data=make_image("tiff", size=(640, 480)), filename="scan.tiff")

    assert (
        f'<img src="/items/{small.pk}/media"'
        in Client().get(f"/items/{small.pk}/").content.decode()
    )
    assert Client().get(f"/items/{small.pk}/preview").status_code == 404
    assert (
        f'<img src="/items/{tiff.pk}/preview"'
        in Client().get(f"/items/{tiff.pk}/").content.decode()
    )


def test_an_exif_rotated_photo_reports_and_shows_its_turned_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter clockwise
    photo = make_image("jpeg", size=(2400, 1600), exif=exif.tobytes())

    item, _ = item_add_file(data=photo, filename="portrait.jpg")

    item.refresh_from_db()
    assert (item.width, item.height) == (1600, 2400)
    assert "1600 \u00d7 2400 px" in Client().get(f"/items/{item.pk}/").content.decode()
    preview = Client().get(f"/items/{item.pk}/preview")
    assert webp_size(b"".join(preview.streaming_content)) == (1365, PREVIEW_SIDE)


def test_an_audio_items_page_shows_its_waveform_with_its_segments_marked(model) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_audio("wav", seconds=25.0), filename="gulls.wav")

    page = Client().get(f"/items/{item.pk}/").content.decode()

    assert '<div class="waveform-player" data-player="item-audio">' in page
    assert 'aria-label="Waveform of gulls.wav, 25.0 s"' in page
    # 25 s is three segments of 8.3 s: lines a third and two thirds across the 160 bars.
    assert '<path class="waveform-bounds" d="M53.33 0V100M106.67 0V100"/>' in page
    assert "the 3 segments searched apart" in page


def test_a_missing_page_is_a_page_of_the_site_with_a_way_on() -> None:
    response = Client().get("/items/999/")

    html = response.content.decode()
    assert response.status_code == 404
    assert '<h1 id="error-heading">Not found</h1>' in html
    assert '<link rel="stylesheet"' in html and 'href="/">Search the library</a>' in html


def test_a_missing_page_asked_by_htmx_is_a_message_to_put_in_place() -> None:
    response = Client().get("/items/999/", HTTP_HX_REQUEST="true")

    assert response.status_code == 404
    assert response.content.decode().startswith('<p class="notice notice-error" role="alert">')


@pytest.mark.parametrize(
    ("asked", "status", "content_range", "part"),
    [
        ("bytes=10-19", 206, "bytes 10-19/{size}", slice(10, 20)),
        ("bytes=100-", 206, "bytes 100-{last}/{size}", slice(100, None)),
        ("bytes=-16", 206, "bytes {tail}-{last}/{size}", slice(-16, None)),
        ("bytes=0-99999999", 206, "bytes 0-{last}/{size}", slice(0, None)),
        ("", 200, None, slice(0, None)),
        ("bytes=0-1,5-9", 200, None, slice(0, None)),
    ],
)
def test_media_is_served_in_the_byte_ranges_players_ask_for_to_seek(
    settings, asked: str, status: int, content_range: str | None, part: slice
) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_audio("wav", seconds=1.0), filename="a.wav")
    data = Path(settings.MEDIA_ROOT, item.file.name).read_bytes()
    size = len(data)

    response = Client().get(f"/items/{item.pk}/media", headers={"Range": asked} if asked else {})

    assert response.status_code == status
    assert response["Accept-Ranges"] == "bytes"
    assert b"".join(response.streaming_content) == data[part]
    assert response["Content-Length"] == str(len(data[part]))
    if content_range:
        expected = content_range.format(size=size, last=size - 1, tail=size - 16)
        assert response["Content-Range"] == expected


def test_a_range_past_the_end_is_a_416(settings) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_image("png"), filename="a.png")
    size = Path(settings.MEDIA_ROOT, item.file.name).stat().st_size

    response = Client().get(f"/items/{item.pk}/media", headers={"Range": f"bytes={size}-"})

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"
