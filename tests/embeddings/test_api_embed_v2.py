from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from bench.media_factory import make_audio, make_image
from bench.processes import Processes
from bench.video_factory import make_video
from embeddings.api.v2_request import FIELDS, INPUT_TYPES, TOP_FIELDS
from embeddings.conf import embeddings_settings
from embeddings.engine.base import EmbeddingModel
from embeddings.services import (
    embed_audio,
    embed_image,
    embed_image_with_text,
    embed_text,
    embed_video,
    prepare_image,
)

pytestmark = pytest.mark.django_db

URL = "/v1.3/embed-v2"


def post(client: Client, input_type: str, body: dict[str, Any], **top: Any) -> Any:
    document = {"input_type": input_type, "model_name": "marengo3.0", input_type: body, **top}
    return client.post(URL, document, content_type="application/json")


def b64(data: bytes) -> dict[str, str]:
    return {"base64_string": base64.b64encode(data).decode()}


def vectors(response: Any) -> list[np.ndarray]:
    assert response.status_code == 200, response.content
    return [np.asarray(item["embedding"], dtype=np.float32) for item in response.json()["data"]]


def refused(response: Any, status: int, code: str, words: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert words in body["message"]


def test_text_is_the_same_vector_as_the_v1_text(api_client: Client) -> None:
    response = post(api_client, "text", {"input_text": "rain on a tin roof"})

    (vector,) = vectors(response)
    np.testing.assert_allclose(vector, embed_text("rain on a tin roof").vector, atol=1e-5)
    item = response.json()["data"][0]
    assert item["embedding_option"] is None and item["embedding_scope"] is None
    assert response.json()["usage"]["truncated"] is False


def test_image_from_base64_and_from_url_equal_the_image_service(
    api_client: Client, file_server, settings
) -> None:  # type: ignore[no-untyped-def]
    png = make_image("png")
    base, files = file_server
    files["/cat.png"] = png
    settings.EMBEDDINGS_URL_ALLOWLIST = ["127.0.0.1"]

    (inline,) = vectors(post(api_client, "image", {"media_source": b64(png)}))
    by_url = post(api_client, "image", {"media_source": {"url": f"{base}/cat.png"}})

    np.testing.assert_allclose(inline, embed_image(png).vector, atol=1e-5)
    np.testing.assert_allclose(vectors(by_url)[0], inline, atol=1e-5)
    assert by_url.json()["metadata"]["input_url"] == f"{base}/cat.png"


def test_text_image_is_the_composed_vector(api_client: Client) -> None:
    png = make_image("png")

    response = post(api_client, "text_image", {"media_source": b64(png), "input_text": "at night"})

    np.testing.assert_allclose(
        vectors(response)[0], embed_image_with_text(png, "at night").vector, atol=1e-5
    )
    assert response.json()["metadata"]["input_type"] == "text_image"


def test_multi_input_places_named_sources_where_the_words_name_them(
    api_client: Client, model: EmbeddingModel
) -> None:
    red, blue = make_image("png", size=(80, 60)), make_image("png", size=(40, 40))
    sources = [
        {"name": "outfit", "media_type": "image", **b64(red)},
        {"name": "bag", "media_type": "image", **b64(blue)},
    ]

    response = post(
        api_client,
        "multi_input",
        {"input_text": "a person wearing <@outfit> holding <@bag>", "media_sources": sources},
    )

    (vector,) = vectors(response)

    images = [prepare_image(data, config=embeddings_settings()) for data in (red, blue)]
    expected = model.embed_interleaved(["a person wearing", images[0], "holding", images[1]])
    np.testing.assert_allclose(vector, expected, atol=1e-5)
    only_image = post(api_client, "multi_input", {"media_sources": [sources[0] | {"name": None}]})
    np.testing.assert_allclose(vectors(only_image)[0], embed_image(red).vector, atol=1e-5)


def test_audio_fixed_segments_clip_and_asset(api_client: Client) -> None:
    audio = make_audio("wav", seconds=12.0)

    response = post(
        api_client,
        "audio",
        {
            "media_source": b64(audio),
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 5}},
        },
    )

    data = response.json()["data"]
    assert [(item["embedding_scope"], item["start_sec"], item["end_sec"]) for item in data] == [
        ("clip", 0.0, 5.0),
        ("clip", 5.0, 10.0),
        ("clip", 10.0, 12.0),
        ("asset", 0.0, 12.0),
    ]
    clips = vectors(response)[:3]
    mean = np.mean(clips, axis=0)
    np.testing.assert_allclose(vectors(response)[3], mean / np.linalg.norm(mean), atol=1e-5)
    assert {item["embedding_option"] for item in data} == {"audio"}
    assert response.json()["metadata"]["duration"] == pytest.approx(12.0)


def test_audio_clip_vectors_equal_the_audio_service_for_the_same_segment(
    api_client: Client,
) -> None:
    audio = make_audio("wav", seconds=8.0)

    response = post(
        api_client,
        "audio",
        {"media_source": b64(audio), "start_sec": 1, "end_sec": 7, "embedding_scope": ["clip"]},
    )

    (vector,) = vectors(response)
    # The same samples: the file's seconds 1 to 7, as one segment.
    (expected,) = embed_audio(make_audio("wav", seconds=7.0), start_offset_sec=1.0)
    np.testing.assert_allclose(vector, expected.vector, atol=1e-5)
    assert response.json()["data"][0]["start_sec"] == 1.0
    assert response.json()["data"][0]["end_sec"] == 7.0


@pytest.mark.parametrize(
    ("top", "body", "status", "code", "words"),
    [
        (
            {"embedding_uncertainty": True},
            {"input_text": "a"},
            400,
            "parameter_invalid",
            "uncertainty",
        ),
        ({"embedding_dimension": 256}, {"input_text": "a"}, 400, "parameter_invalid", "Matryoshka"),
        ({"colour": "red"}, {"input_text": "a"}, 400, "parameter_unknown", "colour"),
        ({}, {}, 400, "parameter_not_provided", "text.input_text"),
        ({}, {"input_text": 5}, 400, "parameter_invalid", "must be a string"),
        (
            {"auto_truncate": False},
            {"input_text": "word " * 200},
            400,
            "parameter_invalid",
            "tokens",
        ),
        ({"model_name": "gpt"}, {"input_text": "a"}, 400, "parameter_invalid", "model_name"),
    ],
)
def test_text_refusals(
    api_client: Client, top: dict[str, Any], body: Any, status: int, code: str, words: str
) -> None:
    refused(post(api_client, "text", body, **top), status, code, words)


def test_long_text_is_cut_with_auto_truncate_and_usage_says_so(api_client: Client) -> None:
    response = post(api_client, "text", {"input_text": "word " * 200})

    assert response.status_code == 200
    assert response.json()["usage"]["truncated"] is True
    assert response.json()["usage"]["truncation_reason"] == "model_context_window"


def test_media_refusals(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MAX_UPLOAD_BYTES = 1000
    audio = {"media_source": {"base64_string": "aGk="}}

    refused(
        post(api_client, "image", {"media_source": {"base64_string": "A" * 1400}}),
        413,
        "file_too_large",
        "larger than 1000 bytes",
    )
    refused(
        post(api_client, "image", {"media_source": {"base64_string": "***"}}),
        400,
        "parameter_invalid",
        "not valid base64",
    )
    refused(
        post(api_client, "image", {"media_source": {"url": "http://x", **b64(b"x")}}),
        400,
        "parameter_invalid",
        "exactly one",
    )
    refused(
        post(api_client, "image", {"media_source": {"asset_id": "abc"}}),
        400,
        "parameter_invalid",
        "no uploaded assets",
    )
    refused(
        post(api_client, "audio", audio | {"embedding_option": ["transcription"]}),
        400,
        "parameter_invalid",
        "speech recogniser",
    )
    refused(
        post(api_client, "audio", audio | {"embedding_type": ["fused_embedding"]}),
        400,
        "parameter_invalid",
        "fused_embedding",
    )
    refused(
        post(api_client, "audio", audio | {"start_sec": 5, "end_sec": 2}),
        400,
        "parameter_invalid",
        "greater than start_sec",
    )
    refused(
        post(api_client, "audio", audio | {"end_sec": 3600}),
        400,
        "parameter_invalid",
        "at most 600 s",
    )
    refused(
        post(
            api_client,
            "audio",
            audio | {"segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 30}}},
        ),
        400,
        "parameter_invalid",
        "from 2 to 10",
    )
    refused(
        post(api_client, "multi_input", {"media_sources": [{"media_type": "image"}] * 11}),
        400,
        "parameter_invalid",
        "more than 10",
    )
    refused(
        post(api_client, "multi_input", {"input_text": "<@nobody>"}),
        400,
        "parameter_invalid",
        "names no media source",
    )
    cat = {"name": "cat", "media_type": "image", "url": "http://example.com/cat.png"}
    refused(
        post(api_client, "multi_input", {"input_text": "<@cat> <@cat>", "media_sources": [cat]}),
        400,
        "parameter_invalid",
        "placed once",
    )
    refused(
        post(api_client, "multi_input", {"media_sources": [{"media_type": "video", "url": "x"}]}),
        400,
        "parameter_invalid",
        "video sources are not supported",
    )


def test_audio_longer_than_the_sync_limit_is_refused_without_end_sec(
    api_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_SYNC_AUDIO_MAX_DURATION_SEC = 3.0

    response = post(api_client, "audio", {"media_source": b64(make_audio("wav", seconds=5.0))})
    cut = post(
        api_client,
        "audio",
        {"media_source": b64(make_audio("wav", seconds=5.0)), "start_sec": 1, "end_sec": 4},
    )

    refused(response, 400, "parameter_invalid", "set end_sec")
    assert cut.json()["data"][-1]["end_sec"] == 4.0


def test_body_bounds(api_client: Client) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    # Strings never closed, each quote escaped: a naive string pattern retries from each one.
    open_strings = '{"text": "' + '\\"' * 200_000

    refused(
        api_client.post(URL, nested, content_type="application/json"),
        400,
        "parameter_invalid",
        "outside its strings",
    )
    refused(
        api_client.post(URL, open_strings, content_type="application/json"),
        400,
        "parameter_invalid",
        "not valid JSON",
    )
    refused(
        api_client.post(URL, "{", content_type="application/json"),
        400,
        "parameter_invalid",
        "not valid JSON",
    )
    refused(
        api_client.post(URL, {"input_type": "text"}),
        400,
        "parameter_invalid",
        "application/json",
    )


def test_the_key_is_required(client: Client) -> None:
    response = client.post(URL, {"input_type": "text"}, content_type="application/json")

    assert response.status_code == 401


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_chunked_json_bodies_under_gunicorn(processes: Processes, api_key: str) -> None:
    cap = 200_000
    base = processes.web(EMBEDDINGS_MAX_UPLOAD_BYTES=str(cap))[1]

    def send_chunked(document: dict[str, Any]) -> httpx.Response:
        # An iterator of unknown length is sent with Transfer-Encoding: chunked, no length.
        body = json.dumps(document).encode()
        request = httpx.Request(
            "POST",
            base + URL,
            content=(body[start : start + 16_384] for start in range(0, len(body), 16_384)),
            headers={"Content-Type": "application/json", "x-api-key": api_key},
        )
        assert request.headers["Transfer-Encoding"] == "chunked"
        with httpx.Client(timeout=60) as client:
            return client.send(request)

    png = make_image("png")
    image = send_chunked(
        {"input_type": "image", "model_name": "marengo3.0", "image": {"media_source": b64(png)}}
    )
    # Over this endpoint's cap (one file's base64 and 1 MiB), under the server's request cap.
    too_large = send_chunked(
        {"input_type": "text", "model_name": "marengo3.0", "text": {"input_text": "x" * 1_400_000}}
    )

    np.testing.assert_allclose(vectors(image)[0], embed_image(png).vector, atol=1e-5)
    refused(too_large, 413, "file_too_large", "larger than")
    assert too_large.json()["error"]["code"] == "file_too_large"


def test_openapi_describes_every_field_the_endpoint_reads() -> None:
    document = Client().get("/openapi.json").json()
    operation = document["paths"]["/v1.3/embed-v2"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]

    assert set(schema["properties"]) == set(TOP_FIELDS)
    for input_type in INPUT_TYPES:
        assert set(schema["properties"][input_type]["properties"]) == set(FIELDS[input_type])
    # TwelveLabs has the Embed API v2 on v1.3 only.
    assert "/v1.2/embed-v2" not in document["paths"]
    assert Client().post("/v1.2/embed-v2").status_code == 404
    assert "L2-normalised mean" in str(schema["properties"]["audio"])


def test_a_last_fixed_segment_too_short_to_embed_ends_the_one_before(api_client: Client) -> None:
    audio = make_audio("wav", seconds=10.05)

    response = post(
        api_client,
        "audio",
        {
            "media_source": b64(audio),
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 5}},
            "embedding_scope": ["clip"],
        },
    )

    spans = [(item["start_sec"], item["end_sec"]) for item in response.json()["data"]]
    assert spans == [(0.0, 5.0), (5.0, 10.05)]


def test_video_separate_and_fused_embeddings_equal_the_video_service(api_client: Client) -> None:
    video = make_video("mp4", seconds=5.0, colour_sec=2.0)

    response = post(
        api_client,
        "video",
        {
            "media_source": b64(video),
            "start_sec": 1,
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 2}},
            "embedding_option": ["visual", "audio"],
            "embedding_type": ["separate_embedding", "fused_embedding"],
        },
    )

    expected = embed_video(
        video,
        options=("visual", "audio", "fused"),
        scopes=("clip", "asset"),
        clip_sec=2.0,
        start_sec=1.0,
    )
    data = response.json()["data"]
    assert [
        (item["start_sec"], item["end_sec"], item["embedding_option"], item["embedding_scope"])
        for item in data
    ] == [(e.start_sec, e.end_sec, e.option, e.scope) for e in expected]
    assert (data[0]["start_sec"], data[-1]["end_sec"]) == (1.0, 5.0)
    for got, want in zip(vectors(response), expected, strict=True):
        np.testing.assert_allclose(got, want.vector, atol=1e-5)
    metadata = response.json()["metadata"]
    assert (metadata["input_type"], metadata["clip_length"], metadata["duration"]) == (
        "video",
        2.0,
        4.0,
    )


def test_video_refusals(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_SYNC_VIDEO_MAX_DURATION_SEC = 3.0
    video = {"media_source": b64(make_video("mp4", seconds=5.0))}

    refused(post(api_client, "video", video), 400, "parameter_invalid", "set end_sec")
    refused(
        post(api_client, "video", video | {"end_sec": 4}),
        400,
        "parameter_invalid",
        "at most 3 s",
    )
    refused(
        post(
            api_client,
            "video",
            video | {"segmentation": {"strategy": "dynamic", "dynamic": {"min_duration_sec": 3}}},
        ),
        400,
        "parameter_invalid",
        "scene boundaries",
    )
    refused(
        post(api_client, "video", video | {"embedding_option": ["visual", "transcription"]}),
        400,
        "parameter_invalid",
        "speech recogniser",
    )
    refused(
        post(api_client, "video", {"media_source": b64(b"not a video")}),
        400,
        "parameter_invalid",
        "video.media_source",
    )
    assert post(api_client, "video", video | {"start_sec": 2}).status_code == 200


def test_v1_and_v2_requests_share_the_key_s_rate_limit(
    api_client: Client, settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    moment = timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr("embeddings.ratelimit.timezone.now", lambda: moment)
    settings.EMBEDDINGS_RATE_LIMIT_PER_MINUTE = 2

    v1 = api_client.post("/v1.3/embed", {"model_name": "marengo3.0", "text": "x"})
    v2 = post(api_client, "text", {"input_text": "x"})
    over = post(api_client, "text", {"input_text": "x"})

    assert (v1.status_code, v2.status_code) == (200, 200)
    assert v2["X-Ratelimit-Remaining"] == "0"
    refused(over, 429, "too_many_requests", "requests a minute")
