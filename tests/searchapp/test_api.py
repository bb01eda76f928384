from __future__ import annotations

import io

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from bench.media_factory import (
    encode_image,
    jpeg_repeating_its_last_scan,
    make_audio,
    make_image,
    png_declaring,
    wav_declaring,
)
from searchapp.models import Item
from searchapp.services.items import ItemDetails, item_add_file, item_add_text, items_set_hidden
from tests.conftest import Resampled

pytestmark = pytest.mark.django_db(transaction=True)


def test_add_a_file_and_read_it_back(api_client: Client) -> None:
    response = api_client.post(
        "/api/items",
        {
            "file": SimpleUploadedFile("bird.mp3", make_audio("mp3", seconds=2.0)),
            "tags": "birds, morning",
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    assert body["modality"] == "audio"
    item = api_client.get(f"/api/items/{body['id']}").json()
    assert item["status"] == "ready"
    assert item["tags"] == ["birds", "morning"]
    assert item["media_url"].endswith(f"/items/{body['id']}/media")


def test_add_text_twice_is_one_item(api_client: Client) -> None:
    first = api_client.post("/api/items", {"text": "rain on a roof"})
    second = api_client.post("/api/items", {"text": "rain on a roof"})

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({}, 400, "parameter_not_provided"),
        ({"file": SimpleUploadedFile("x.txt", b"plain text")}, 400, "parameter_invalid"),
        ({"text": "x", "file": SimpleUploadedFile("a.png", b"x")}, 400, "parameter_invalid"),
    ],
)
def test_bad_items_are_refused(api_client: Client, fields: dict, status: int, code: str) -> None:  # type: ignore[type-arg]
    response = api_client.post("/api/items", fields)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert Item.objects.count() == 0


def aiff_audio() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="aiff") as container:
        stream = container.add_stream("pcm_s16be", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1600), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (png_declaring(10_000, 6_000), "the image has 60000000 pixels; the limit is 50000000"),
        (aiff_audio(), "neither a supported image"),
        (
            wav_declaring(sample_rate=1_610_612_736, channels=1, frames=10_000),
            "the audio's sample rate (1610612736 Hz) is outside the accepted range",
        ),
        (wav_declaring(sample_rate=16000, channels=33), "the audio has 33 channels"),
        (
            jpeg_repeating_its_last_scan(make_image("jpeg", progressive=True), times=200),
            "the JPEG has 210 scans; the limit is 100",
        ),
    ],
    ids=[
        "over-the-pixel-limit",
        "unsupported-audio-container",
        "1.6GHz",
        "33-channels",
        "jpeg-scans",
    ],
)
def test_files_the_worker_could_not_embed_are_refused_at_upload(
    api_client: Client, content: bytes, message: str
) -> None:
    response = api_client.post("/api/items", {"file": SimpleUploadedFile("upload", content)})

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert Item.objects.count() == 0


def multi_picture_jpeg() -> bytes:
    pictures = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    return encode_image(pictures[0], "MPO", save_all=True, append_images=pictures[1:])


def test_a_multi_picture_jpeg_is_added_and_searched_with_as_a_jpeg(api_client: Client) -> None:
    added = api_client.post(
        "/api/items", {"file": SimpleUploadedFile("p.jpg", multi_picture_jpeg())}
    )
    searched = api_client.post(
        "/api/search", {"image_file": SimpleUploadedFile("q.jpg", multi_picture_jpeg())}
    )

    assert added.status_code == 201, added.content
    assert added.json()["mime_type"] == "image/jpeg"
    assert api_client.get(f"/api/items/{added.json()['id']}").json()["status"] == "ready"
    assert searched.status_code == 200, searched.content


def test_a_raw_aac_upload_is_stored_as_audio_aac(api_client: Client) -> None:
    response = api_client.post(
        "/api/items", {"file": SimpleUploadedFile("a.aac", make_audio("aac", seconds=1.0))}
    )

    assert response.status_code == 201
    assert response.json()["mime_type"] == "audio/aac"
    media = api_client.get(response.json()["media_url"])
    media.close()
    assert media["Content-Type"] == "audio/aac"
    assert "attachment" not in media.get("Content-Disposition", "")


@pytest.mark.parametrize("path", ["/api/items/abc", "/api/nothing", "/v1.3/nothing"])
def test_unknown_api_paths_are_a_json_404(api_client: Client, path: str) -> None:
    response = api_client.get(path)

    assert response.status_code == 404
    assert response.json()["code"] == "resource_not_exists"


def test_unknown_pages_are_an_html_404() -> None:
    response = Client().get("/nothing")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_item_api_needs_a_key() -> None:
    assert Client().post("/api/items", {"text": "x"}).status_code == 401
    assert Client().post("/api/search", {"text": "x"}).status_code == 401


def test_search_by_text_image_audio_and_item(api_client: Client) -> None:
    image = api_client.post(
        "/api/items", {"file": SimpleUploadedFile("a.png", make_image("png"))}
    ).json()
    api_client.post(
        "/api/items", {"file": SimpleUploadedFile("b.wav", make_audio("wav", seconds=12.0))}
    )
    api_client.post("/api/items", {"text": "a note about the sea"})

    queries = [
        {"text": "the sea"},
        {"image_file": SimpleUploadedFile("q.jpg", make_image("jpeg"))},
        {"audio_file": SimpleUploadedFile("q.flac", make_audio("flac", seconds=3.0))},
        {"item_id": str(image["id"])},
    ]
    for query in queries:
        response = api_client.post("/api/search", {**query, "min_score": "-1"})
        assert response.status_code == 200, response.content
        results = response.json()["results"]
        assert {r["modality"] for r in results} >= {"audio", "text"}
        for result in results:
            assert -1.0 <= result["score"] <= 1.0
            if result["modality"] == "audio":
                assert result["start_offset_sec"] is not None
                assert result["end_offset_sec"] > result["start_offset_sec"]
    by_item = api_client.post(
        "/api/search", {"item_id": str(image["id"]), "min_score": "-1"}
    ).json()
    assert image["id"] not in {r["id"] for r in by_item["results"]}


def test_a_note_with_a_media_placeholder_token_is_stored_embedded_and_found(
    api_client: Client,
) -> None:
    note = api_client.post("/api/items", {"text": "screenshot <|image|> of the <|audio|> mixer"})

    search = api_client.post("/api/search", {"text": "<|image|><|video|>", "min_score": "-1"})

    assert note.status_code == 201
    assert api_client.get(f"/api/items/{note.json()['id']}").json()["status"] == "ready"
    assert search.status_code == 200
    assert note.json()["id"] in [hit["id"] for hit in search.json()["results"]]


def test_search_by_an_hour_long_clip_uses_its_first_30_s_and_says_so(
    api_client: Client, embedded_audio: list[float], resampled: Resampled
) -> None:
    api_client.post("/api/items", {"text": "a note about the sea"})
    embedded_audio.clear()
    resampled.frames.clear()
    hour_long_clip = wav_declaring(sample_rate=1000, channels=1, frames=3600 * 1000)

    response = api_client.post(
        "/api/search",
        {"audio_file": SimpleUploadedFile("hour.wav", hour_long_clip), "min_score": "-1"},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["query_audio_seconds"] == 30.0
    assert body["warning"] == "Searched with the first 30 s of the audio clip."
    assert len(body["results"]) == 1
    assert sum(embedded_audio) == 30.0
    assert resampled.seconds <= 2 * 31


def test_search_by_a_short_clip_reports_its_length_without_a_warning(api_client: Client) -> None:
    clip = SimpleUploadedFile("q.flac", make_audio("flac", seconds=3.0, sampling_rate=16000))

    body = api_client.post("/api/search", {"audio_file": clip}).json()

    assert body["query_audio_seconds"] == pytest.approx(3.0, abs=0.01)
    assert body["warning"] is None
    assert api_client.post("/api/search", {"text": "x"}).json()["query_audio_seconds"] is None


def test_search_by_audio_whose_header_is_out_of_bounds_is_a_400(
    api_client: Client, resampled: Resampled
) -> None:
    data = wav_declaring(sample_rate=1_610_612_736, channels=1, frames=10_000)

    response = api_client.post("/api/search", {"audio_file": SimpleUploadedFile("q.wav", data)})

    assert response.status_code == 400
    assert "sample rate (1610612736 Hz)" in response.json()["message"]
    assert resampled.frames == []


def test_search_filters_and_limit(api_client: Client) -> None:
    for text in ("one", "two", "three"):
        api_client.post("/api/items", {"text": f"note {text}"})
    api_client.post("/api/items", {"file": SimpleUploadedFile("a.png", make_image("png"))})

    response = api_client.post(
        "/api/search", {"text": "note", "modality": "text", "limit": "2", "min_score": "-1"}
    )

    body = response.json()
    assert len(body["results"]) == 2 and body["has_more"]
    assert {r["modality"] for r in body["results"]} == {"text"}


def test_hidden_items_do_not_leak_through_the_api(api_client: Client) -> None:
    item, _ = item_add_text(text="a secret")
    items_set_hidden(items=Item.objects.filter(pk=item.pk), hidden=True)

    assert api_client.get(f"/api/items/{item.pk}").status_code == 404
    results = api_client.post("/api/search", {"text": "a secret", "min_score": "-1"}).json()[
        "results"
    ]
    assert item.pk not in {r["id"] for r in results}


def test_resending_a_hidden_items_bytes_or_text_is_refused_without_revealing_it(
    api_client: Client,
) -> None:
    png = make_image("png")
    secret = ItemDetails(title="the plan", description="top secret", tags=["classified"])
    image, _ = item_add_file(data=png, filename="plan.png", details=secret)
    note, _ = item_add_text(text="meet at dawn", details=secret)
    items_set_hidden(items=Item.objects.filter(pk__in=[image.pk, note.pk]), hidden=True)

    for fields in ({"file": SimpleUploadedFile("copy.png", png)}, {"text": "meet at dawn"}):
        response = api_client.post("/api/items", fields)

        assert response.status_code == 409
        assert set(response.json()) == {"code", "message"}
        assert response.json()["code"] == "resource_conflict"
        for secret_word in ("plan", "secret", "classified", "dawn"):
            assert secret_word not in response.json()["message"]
    assert Item.objects.count() == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "x", "limit": "abc"},
        {"text": "x", "modality": "hologram"},
        {"text": "x", "min_score": "2"},
        {},
    ],
)
def test_bad_searches_are_a_400(api_client: Client, fields: dict) -> None:  # type: ignore[type-arg]
    response = api_client.post("/api/search", fields)

    assert response.status_code == 400
    assert response.json()["message"]


def test_an_item_added_while_the_model_is_missing_reads_as_waiting_without_server_paths(
    api_client: Client, settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = str(tmp_path / "gone")
    added = api_client.post("/api/items", {"text": "call the plumber"}).json()

    response = api_client.get(f"/api/items/{added['id']}")

    item = response.json()
    assert item["status"] == "waiting"
    assert item["error_message"] == ""
    assert str(tmp_path) not in response.content.decode()


def test_openapi_describes_the_library_api_next_to_embed() -> None:
    paths = Client().get("/openapi.json").json()["paths"]

    assert {"/v1.3/embed", "/api/items", "/api/items/{id}", "/api/search"} <= set(paths)


def test_search_by_a_missing_or_hidden_item_is_a_404(api_client: Client) -> None:
    hidden, _ = item_add_text(text="a secret")
    items_set_hidden(items=Item.objects.filter(pk=hidden.pk), hidden=True)

    for item_id in (hidden.pk, hidden.pk + 1000):
        response = api_client.post("/api/search", {"item_id": str(item_id)})

        assert response.status_code == 404
        assert response.json() == {"code": "resource_not_exists", "message": f"No item {item_id}."}


def test_a_search_limit_over_100_is_a_400_that_says_the_bound(api_client: Client) -> None:
    response = api_client.post("/api/search", {"text": "harbour", "limit": "101"})

    assert response.status_code == 400
    assert response.json() == {
        "code": "parameter_invalid",
        "message": "limit: A page holds 1 to 100 results.",
    }


def test_adding_a_hidden_items_bytes_never_returns_its_details(api_client: Client) -> None:
    png = make_image("png")
    item, _ = item_add_file(data=png, filename="plan.png")
    items_set_hidden(items=Item.objects.filter(pk=item.pk), hidden=True)

    added = api_client.post("/api/items", {"file": SimpleUploadedFile("copy.png", png)})

    assert api_client.get(f"/api/items/{item.pk}").status_code == 404
    assert added.status_code == 409
    assert "id" not in added.json()
