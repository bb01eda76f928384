from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone
from PIL import Image

from bench.media_factory import (
    encode_audio,
    encode_image,
    make_audio,
    make_image,
    sine,
    wav_declaring,
)
from searchapp.models import Item, Status
from searchapp.services.items import ItemDetails, item_add_file, item_add_text, items_set_hidden
from tests.conftest import Resampled

pytestmark = pytest.mark.django_db(transaction=True)


def test_search_page_loads_for_anyone() -> None:
    response = Client().get("/")

    assert response.status_code == 200
    assert b"Find anything by anything" in response.content


def test_search_page_can_require_sign_in(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_REQUIRES_LOGIN = True

    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_search_page_says_when_the_model_is_unavailable_and_only_staff_why(
    admin_client: Client, settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = str(tmp_path / "gone")
    item_add_text(text="harbour lights")  # fails to embed; the pages must still load

    visitor = Client().get("/?q=harbour").content.decode()
    staff = admin_client.get("/?q=harbour").content.decode()
    file_search = Client().post(
        "/search/file",
        {"query_file": SimpleUploadedFile("q.png", make_image("png"))},
        HTTP_HX_REQUEST="true",
    )

    assert "The embedding model is unavailable" in visitor
    assert "Showing word matches only" in visitor
    assert file_search.status_code == 503
    assert "Search by meaning is off" in file_search.content.decode()
    assert str(tmp_path) not in visitor + file_search.content.decode()
    assert "download_model" in staff and str(tmp_path) in staff


def test_text_search_partial_returns_every_modality(model) -> None:  # type: ignore[no-untyped-def]
    item_add_file(data=make_image("png"), filename="sunset.png")
    item_add_file(data=make_audio("wav", seconds=2.0), filename="waves.wav")
    item_add_text(text="a walk along the shore")

    response = Client().get("/", {"q": "sea", "min_score": "-1"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="search-form"' not in html
    assert html.count('class="card card-') == 3
    for modality in ("image", "audio", "text"):
        assert f"card-{modality}" in html


def test_text_search_with_a_media_placeholder_token_answers_on_every_page(model) -> None:  # type: ignore[no-untyped-def]
    item_add_text(text="a walk along the shore")

    page = Client().get("/", {"q": "<|audio|> shore"})
    partial = Client().get(
        "/", {"q": "<|video|> <|image|>", "min_score": "-1"}, HTTP_HX_REQUEST="true"
    )

    assert (page.status_code, partial.status_code) == (200, 200)
    assert "a walk along the shore" in partial.content.decode()


def search_by_file(name: str, data: bytes, **params: str) -> HttpResponse:
    """A file search as the page makes it: the file is kept, then its URL is loaded."""
    client = Client()
    kept = client.post(
        "/search/file",
        {"query_file": SimpleUploadedFile(name, data), **params},
        HTTP_HX_REQUEST="true",
    )
    assert kept.status_code == 201, kept.content.decode()
    return client.get(kept["Location"])


def test_file_search(model) -> None:  # type: ignore[no-untyped-def]
    item_add_file(data=make_image("png"), filename="sunset.png")

    response = search_by_file("query.jpg", make_image("jpeg"), min_score="-1")

    assert response.status_code == 200
    assert "Results for" in response.content.decode()
    assert "query.jpg" in response.content.decode()
    assert 'class="card card-image"' in response.content.decode()


def test_file_search_with_a_file_that_is_not_media_says_why_in_words() -> None:
    response = Client().post(
        "/search/file",
        {"query_file": SimpleUploadedFile("notes.pdf", b"%PDF-1.4")},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 400
    assert "neither a supported image" in response.content.decode()
    assert "query_file" not in response.content.decode()


# An hour of 16-bit silence at 1 kHz: 7.2 MB, made without an encoder.
HOUR_LONG_CLIP = wav_declaring(sample_rate=1000, channels=1, frames=3600 * 1000)


def test_search_page_says_a_clip_is_searched_by_its_start(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_QUERY_AUDIO_MAX_SEC = 12.5

    response = Client().get("/")

    assert "A sound is searched by its first 12.5 s, a video by what its first 6 s show." in (
        response.content.decode()
    )


def test_file_search_with_an_hour_long_clip_decodes_and_embeds_only_its_start(
    embedded_audio: list[float], resampled: Resampled
) -> None:
    item_add_text(text="a walk along the shore")
    embedded_audio.clear()
    resampled.frames.clear()

    response = search_by_file("hour.wav", HOUR_LONG_CLIP, min_score="-1")

    assert response.status_code == 200
    assert "hour.wav" in response.content.decode()
    assert "Searched with its first 30 s." in response.content.decode()
    assert 'class="card card-text"' in response.content.decode()
    assert sum(embedded_audio) == 30.0
    # Checked once and split once, each stopping at 30 s, and its 10 s preview: not the hour.
    assert resampled.seconds <= 2 * 31 + 2 * 11


def test_file_search_with_a_short_clip_uses_all_of_it(model) -> None:  # type: ignore[no-untyped-def]
    response = search_by_file("short.flac", make_audio("flac", seconds=3.0), min_score="-1")

    assert "short.flac" in response.content.decode()
    assert "Searched with its first" not in response.content.decode()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (wav_declaring(sample_rate=1_610_612_736, channels=1, frames=10_000), "sample rate"),
        (wav_declaring(sample_rate=16000, channels=64), "64 channels"),
        (encode_audio(sine(0.005, sampling_rate=16000), "wav", sampling_rate=16000), "shortest"),
    ],
    ids=["1.6GHz", "64-channels", "5ms"],
)
def test_file_search_with_audio_out_of_bounds_says_why(
    data: bytes, words: str, resampled: Resampled
) -> None:
    response = Client().post(
        "/search/file", {"query_file": SimpleUploadedFile("q.wav", data)}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 400
    assert 'class="notice notice-error"' in response.content.decode()
    assert words in response.content.decode()


def test_upload_needs_an_account() -> None:
    assert Client().get("/upload/").status_code == 302
    response = Client().post(
        "/upload/file", {"file": SimpleUploadedFile("a.png", make_image("png"))}
    )
    assert response.status_code == 302
    assert Item.objects.count() == 0


def test_upload_returns_a_row_that_ends_ready(user_client: Client) -> None:
    response = user_client.post(
        "/upload/file", {"file": SimpleUploadedFile("a.png", make_image("png"))}
    )

    assert response.status_code == 201
    item = Item.objects.get()
    assert f'id="item-row-{item.pk}"' in response.content.decode()
    row = user_client.get(f"/items/{item.pk}/row")
    assert "Ready" in row.content.decode()
    assert "hx-trigger" not in row.content.decode()


def poll_delay_after(client: Client, item: Item, *, unchanged_sec: float) -> int | None:
    Item.objects.filter(pk=item.pk).update(
        updated_at=timezone.now() - timedelta(seconds=unchanged_sec)
    )
    row = client.get(f"/items/{item.pk}/row").content.decode()
    found = re.search(r'hx-trigger="load delay:(\d+)ms"', row)
    return int(found.group(1)) if found else None


def test_a_pending_row_asks_again_soon_then_less_often_the_longer_its_item_waits(
    user_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    user_client.post("/upload/file", {"file": SimpleUploadedFile("a.png", make_image("png"))})
    item = Item.objects.get()
    assert item.status == Status.PENDING

    assert poll_delay_after(user_client, item, unchanged_sec=0) == 1_000
    assert 6_000 <= (poll_delay_after(user_client, item, unchanged_sec=60) or 0) < 6_100
    assert poll_delay_after(user_client, item, unchanged_sec=3600) == 15_000
    Item.objects.filter(pk=item.pk).update(status=Status.WAITING)
    assert poll_delay_after(user_client, item, unchanged_sec=0) == 5_000
    assert poll_delay_after(user_client, item, unchanged_sec=3600) == 30_000
    Item.objects.filter(pk=item.pk).update(status=Status.READY)
    assert poll_delay_after(user_client, item, unchanged_sec=0) is None


def test_a_polling_row_of_an_item_hidden_or_deleted_meanwhile_stops_polling(
    user_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    user_client.post("/upload/file", {"file": SimpleUploadedFile("a.png", make_image("png"))})
    item = Item.objects.get()
    items_set_hidden(items=Item.objects.all(), hidden=True)

    hidden = user_client.get(f"/items/{item.pk}/row")
    deleted = user_client.get(f"/items/{item.pk + 1}/row")

    # htmx's "stop polling": the empty answer replaces the row, and its polling ends.
    assert (hidden.status_code, hidden.content) == (286, b"")
    assert (deleted.status_code, deleted.content) == (286, b"")


def test_uploading_a_duplicate_says_so(user_client: Client) -> None:
    data = make_image("png")
    user_client.post("/upload/file", {"file": SimpleUploadedFile("a.png", data)})

    response = user_client.post("/upload/file", {"file": SimpleUploadedFile("b.png", data)})

    assert response.status_code == 200
    assert "already in the library" in response.content.decode()
    assert Item.objects.count() == 1


def test_uploading_a_hidden_items_file_or_note_again_reveals_it_only_to_staff(
    user_client: Client, admin_client: Client
) -> None:
    png = make_image("png")
    secret = ItemDetails(title="the plan", tags=["classified"])
    image, _ = item_add_file(data=png, filename="plan.png", details=secret)
    note, _ = item_add_text(text="meet at dawn", details=secret)
    items_set_hidden(items=Item.objects.filter(pk__in=[image.pk, note.pk]), hidden=True)
    file_again = {"file": SimpleUploadedFile("copy.png", png)}
    note_again = {"text": "meet at dawn"}

    refusals = [
        user_client.post("/upload/file", file_again),
        user_client.post("/upload/note", note_again),
    ]
    file_again["file"].seek(0)
    staff = [
        admin_client.post("/upload/file", file_again),
        admin_client.post("/upload/note", note_again),
    ]

    for response in refusals:
        assert response.status_code == 409
        html = response.content.decode()
        assert "already in the library" in html
        assert "the plan" not in html and "dawn" not in html and "classified" not in html
    for response in staff:
        assert response.status_code == 200
        assert "the plan" in response.content.decode()
    assert Item.objects.count() == 2


def test_uploading_something_unsupported_is_a_clear_400(user_client: Client) -> None:
    response = user_client.post("/upload/file", {"file": SimpleUploadedFile("x.svg", b"<svg/>")})

    assert response.status_code == 400
    assert "x.svg" in response.content.decode()


def test_uploading_audio_whose_header_is_out_of_bounds_is_a_clear_400(
    user_client: Client, resampled: Resampled
) -> None:
    data = wav_declaring(sample_rate=1_610_612_736, channels=1, frames=10_000)

    response = user_client.post("/upload/file", {"file": SimpleUploadedFile("a.wav", data)})

    assert response.status_code == 400
    assert "sample rate (1610612736 Hz)" in response.content.decode()
    assert Item.objects.count() == 0
    assert resampled.frames == []


def test_a_multi_picture_jpeg_is_uploaded_and_searched_with_as_a_jpeg(
    user_client: Client,
) -> None:
    pictures = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    photo = encode_image(pictures[0], "MPO", save_all=True, append_images=pictures[1:])

    uploaded = user_client.post("/upload/file", {"file": SimpleUploadedFile("p.jpg", photo)})
    searched = search_by_file("q.jpg", photo, min_score="-1")

    assert uploaded.status_code == 201
    assert Item.objects.get().mime_type == "image/jpeg"
    assert searched.status_code == 200
    assert 'class="card card-image"' in searched.content.decode()


def test_add_text_note(user_client: Client) -> None:
    response = user_client.post("/upload/note", {"text": "call the plumber", "tags": "home, todo"})

    assert response.status_code == 201
    item = Item.objects.get()
    assert item.tags == ["home", "todo"]
    assert item.status == Status.READY


def test_a_note_with_a_media_placeholder_token_ends_ready(user_client: Client) -> None:
    response = user_client.post("/upload/note", {"text": "see <|image|> and hear <|audio|>"})

    assert response.status_code == 201
    assert Item.objects.get().status == Status.READY


def test_an_item_added_while_the_model_is_missing_shows_it_waits_without_server_paths(
    user_client: Client, settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = str(tmp_path / "gone")
    user_client.post("/upload/note", {"text": "call the plumber"})
    item = Item.objects.get()

    pages = [user_client.get(f"/items/{item.pk}/row"), user_client.get(f"/items/{item.pk}/")]
    pages.append(user_client.get("/upload/"))  # the banner too

    for page in pages:
        html = page.content.decode()
        assert "Waiting for the model" in html
        assert str(tmp_path) not in html and "Error:" not in html


def test_item_page_shows_neighbours(model) -> None:  # type: ignore[no-untyped-def]
    first, _ = item_add_text(text="first")
    item_add_text(text="second")

    response = Client().get(f"/items/{first.pk}/")

    assert response.status_code == 200
    assert "Nearest neighbours" in response.content.decode()
    assert response.content.decode().count('class="card card-text"') == 1


def test_hidden_items_are_not_found_by_visitors_but_by_staff(admin_client: Client) -> None:
    item, _ = item_add_file(data=make_image("png"), filename="a.png")
    items_set_hidden(items=Item.objects.filter(pk=item.pk), hidden=True)

    for path in (f"/items/{item.pk}/", f"/items/{item.pk}/media", f"/items/{item.pk}/thumbnail"):
        assert Client().get(path).status_code == 404
        response = admin_client.get(path)
        response.close()
        assert response.status_code == 200


def test_media_is_served_so_it_cannot_run_in_the_site(model) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_image("png"), filename="a.png")

    response = Client().get(f"/items/{item.pk}/media")
    response.close()

    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_media_whose_file_is_gone_is_a_404_that_names_no_path(settings) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_image("png"), filename="a.png")
    Path(settings.MEDIA_ROOT, item.file.name).unlink()

    response = Client().get(f"/items/{item.pk}/media")

    assert response.status_code == 404
    assert str(settings.MEDIA_ROOT) not in response.content.decode()


def test_asking_the_same_text_again_does_not_run_the_model_again(model, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    item_add_text(text="harbour lights at dusk")
    asked: list[list[str]] = []
    embed_texts = model.embed_texts
    monkeypatch.setattr(
        model, "embed_texts", lambda texts: asked.append(texts) or embed_texts(texts)
    )

    first = Client().get("/", {"q": "lights over the harbour"}, HTTP_HX_REQUEST="true")
    again = Client().get(
        "/", {"q": "lights over the harbour", "modality": "text"}, HTTP_HX_REQUEST="true"
    )

    assert first.status_code == again.status_code == 200
    assert b"harbour lights at dusk" in again.content
    assert len(asked) == 1
