from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from sentence_transformers import SentenceTransformer

from bench.media_factory import encode_audio, make_audio, make_image, sine, wav_declaring
from embeddings.engine.base import EmbeddingModel
from embeddings.keys import api_key_create, api_key_revoke
from tests.conftest import Resampled

pytestmark = pytest.mark.django_db

EMBED_URL = "/v1.3/embed"


def post(client: Client, url: str = EMBED_URL, **fields: Any) -> Any:
    return client.post(url, {"model_name": "embeddinggemma-2", **fields})


def vector(segment: dict[str, Any]) -> np.ndarray:
    return np.asarray(segment["float"], dtype=np.float32)


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def test_embed_text_returns_one_unit_vector(api_client: Client, model: EmbeddingModel) -> None:
    response = post(api_client, text="a dog running on the beach")

    assert response.status_code == 200
    body = response.json()
    assert body["model_name"] == "embeddinggemma-2"
    assert set(body) == {"model_name", "text_embedding"}
    (segment,) = body["text_embedding"]["segments"]
    assert len(segment["float"]) == model.dimension
    assert np.linalg.norm(vector(segment)) == pytest.approx(1.0, abs=1e-5)


def test_embed_same_text_gives_same_vector_different_text_differs(api_client: Client) -> None:
    first = vector(post(api_client, text="a red car").json()["text_embedding"]["segments"][0])
    again = vector(post(api_client, text="a red car").json()["text_embedding"]["segments"][0])
    other = vector(post(api_client, text="birdsong").json()["text_embedding"]["segments"][0])

    np.testing.assert_allclose(first, again, atol=1e-6)
    assert float(first @ other) < 0.9999


def test_embed_v1_2_path_and_urlencoded_body(api_client: Client) -> None:
    response = api_client.post(
        "/v1.2/embed",
        "model_name=embeddinggemma-2&text=hello",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert "text_embedding" in response.json()


@pytest.mark.parametrize("alias", ["Marengo-retrieval-2.7", "marengo3.0"])
def test_embed_marengo_aliases_use_the_local_model(api_client: Client, alias: str) -> None:
    response = api_client.post(EMBED_URL, {"model_name": alias, "text": "hello"})

    assert response.status_code == 200
    assert response.json()["model_name"] == alias


def test_embed_image_file_has_filename_metadata(api_client: Client, model: EmbeddingModel) -> None:
    response = post(api_client, image_file=upload("photo.png", make_image("png")))

    assert response.status_code == 200
    result = response.json()["image_embedding"]
    assert result["metadata"] == {"input_filename": "photo.png"}
    (segment,) = result["segments"]
    assert len(segment["float"]) == model.dimension


def test_embed_audio_is_split_into_segments_near_ten_seconds(api_client: Client) -> None:
    response = post(api_client, audio_file=upload("talk.wav", make_audio("wav", seconds=16.0)))

    assert response.status_code == 200
    segments = response.json()["audio_embedding"]["segments"]
    assert [(s["start_offset_sec"], s["end_offset_sec"]) for s in segments] == [
        (0.0, 8.0),
        (8.0, 16.0),
    ]
    assert response.json()["audio_embedding"]["metadata"] == {"input_filename": "talk.wav"}


def test_embed_audio_start_offset_skips_the_start(api_client: Client) -> None:
    response = post(
        api_client,
        audio_file=upload("talk.wav", make_audio("wav", seconds=16.0)),
        audio_start_offset_sec="6",
    )

    segments = response.json()["audio_embedding"]["segments"]
    assert [(s["start_offset_sec"], s["end_offset_sec"]) for s in segments] == [(6.0, 16.0)]


def test_embed_mixed_call_returns_every_modality_in_one_space(
    api_client: Client, model: EmbeddingModel
) -> None:
    response = post(
        api_client,
        text="a cat",
        image_file=upload("cat.jpg", make_image("jpeg")),
        audio_file=upload("cat.mp3", make_audio("mp3", seconds=3.0)),
    )

    assert response.status_code == 200
    body = response.json()
    vectors = [
        vector(body["text_embedding"]["segments"][0]),
        vector(body["image_embedding"]["segments"][0]),
        vector(body["audio_embedding"]["segments"][0]),
    ]
    assert {v.shape for v in vectors} == {(model.dimension,)}


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp", "gif", "bmp", "tiff"])
def test_embed_every_image_format(api_client: Client, fmt: str) -> None:
    response = post(api_client, image_file=upload(f"image.{fmt}", make_image(fmt)))

    assert response.status_code == 200, response.json()


@pytest.mark.parametrize("fmt", ["wav", "mp3", "m4a", "ogg", "opus", "flac", "webm"])
def test_embed_every_audio_format(api_client: Client, fmt: str) -> None:
    response = post(api_client, audio_file=upload(f"clip.{fmt}", make_audio(fmt, seconds=2.0)))

    assert response.status_code == 200, response.json()
    (segment,) = response.json()["audio_embedding"]["segments"]
    assert segment["start_offset_sec"] == 0.0
    assert segment["end_offset_sec"] == pytest.approx(2.0, abs=0.1)


def test_embed_text_over_the_limit_is_truncated_at_the_end_by_default(
    api_client: Client, model: EmbeddingModel, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_TEXT_MAX_TOKENS = 5
    long_text = "a photo of a cat sitting on a sofa by the window"
    kept = model.truncate_text(long_text, max_tokens=5, side="end")
    assert long_text.startswith(kept) and kept != long_text

    truncated = vector(post(api_client, text=long_text).json()["text_embedding"]["segments"][0])
    expected = vector(post(api_client, text=kept).json()["text_embedding"]["segments"][0])

    np.testing.assert_allclose(truncated, expected, atol=1e-6)


def test_embed_text_truncate_start_keeps_the_last_tokens(
    api_client: Client, model: EmbeddingModel, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_TEXT_MAX_TOKENS = 5
    long_text = "a photo of a cat sitting on a sofa by the window"
    kept = model.truncate_text(long_text, max_tokens=5, side="start")
    assert long_text.endswith(kept) and kept != long_text
    assert model.count_tokens(kept) == 5

    truncated = post(api_client, text=long_text, text_truncate="start").json()
    expected = post(api_client, text=kept).json()

    np.testing.assert_allclose(
        vector(truncated["text_embedding"]["segments"][0]),
        vector(expected["text_embedding"]["segments"][0]),
        atol=1e-6,
    )


def test_embed_text_over_the_limit_with_truncate_none_is_refused(
    api_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_TEXT_MAX_TOKENS = 5
    response = post(api_client, text="a photo of a cat sitting on a sofa", text_truncate="none")

    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"
    assert "less than or equal to 5" in response.json()["message"]


@pytest.mark.parametrize("token", ["<|image|>", "<|audio|>", "<|video|>"])
def test_embed_text_with_a_media_placeholder_token_is_embedded_as_text(
    api_client: Client, token: str
) -> None:
    response = post(api_client, text=f"what is in this {token}?")

    assert response.status_code == 200
    assert np.linalg.norm(vector(response.json()["text_embedding"]["segments"][0])) == (
        pytest.approx(1.0, abs=1e-5)
    )


def test_embed_input_the_models_processor_refuses_is_a_400(
    api_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: SentenceTransformer, inputs: object, **kwargs: object) -> None:
        raise ValueError("Attempting to resize to a 0 x 0 image.")

    monkeypatch.setattr(SentenceTransformer, "preprocess", refuse)

    response = post(api_client, image_file=upload("a.png", make_image("png")))

    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"
    assert "0 x 0 image" in response.json()["message"]


def test_embed_default_text_limit_is_77_tokens(api_client: Client, model: EmbeddingModel) -> None:
    words = " ".join(["cat"] * 200)
    assert model.count_tokens(words) > 77

    response = post(api_client, text=words, text_truncate="none")

    assert response.status_code == 400
    assert "77" in response.json()["message"]


def assert_error(response: Any, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    for word in words:
        assert word in body["message"]


def test_embed_without_model_name(api_client: Client) -> None:
    assert_error(
        api_client.post(EMBED_URL, {"text": "x"}), 400, "parameter_not_provided", "model_name"
    )


def test_embed_with_unknown_model_name_lists_the_available_ones(api_client: Client) -> None:
    response = api_client.post(EMBED_URL, {"model_name": "gpt-7", "text": "x"})

    assert_error(
        response, 400, "parameter_invalid", "gpt-7", "embeddinggemma-2", "Marengo-retrieval-2.7"
    )


def test_embed_without_any_input(api_client: Client) -> None:
    assert_error(post(api_client), 400, "parameter_not_provided", "text", "image_url")


def test_embed_with_unknown_parameter(api_client: Client) -> None:
    assert_error(
        post(api_client, text="x", video_url="http://x"), 400, "parameter_unknown", "video_url"
    )


def test_embed_with_url_and_file_for_one_modality(api_client: Client) -> None:
    response = post(
        api_client,
        image_url="https://example.com/a.png",
        image_file=upload("a.png", make_image("png")),
    )

    assert_error(response, 400, "parameter_invalid", "image_url", "image_file")


def test_embed_with_unknown_text_truncate(api_client: Client) -> None:
    assert_error(
        post(api_client, text="x", text_truncate="middle"),
        400,
        "parameter_invalid",
        "text_truncate",
    )


def test_embed_with_blank_text(api_client: Client) -> None:
    assert_error(post(api_client, text="   "), 400, "parameter_invalid", "text")


@pytest.mark.parametrize("offset", ["-1", "abc", "nan", "inf"])
def test_embed_with_invalid_audio_offset(api_client: Client, offset: str) -> None:
    response = post(
        api_client,
        audio_file=upload("a.wav", make_audio("wav", seconds=1.0)),
        audio_start_offset_sec=offset,
    )

    assert_error(response, 400, "parameter_invalid", "audio_start_offset_sec")


def test_embed_with_audio_offset_beyond_the_end(api_client: Client) -> None:
    response = post(
        api_client,
        audio_file=upload("a.wav", make_audio("wav", seconds=2.0)),
        audio_start_offset_sec="5",
    )

    assert_error(response, 400, "parameter_invalid", "audio")


@pytest.mark.parametrize("offset", ["3600", "1e12", "1e304", "1e308"])
def test_embed_with_audio_offset_past_the_longest_audio_is_refused_without_decoding(
    api_client: Client, offset: str, resampled: Resampled
) -> None:
    response = post(
        api_client,
        audio_file=upload("a.wav", make_audio("wav", seconds=2.0)),
        audio_start_offset_sec=offset,
    )

    assert_error(response, 400, "parameter_invalid", "beyond the longest audio accepted (3600 s)")
    assert resampled.frames == []


@pytest.mark.parametrize("source", ["file", "url"])
@pytest.mark.parametrize(
    ("rate", "channels", "words"),
    [
        (1_610_612_736, 1, ("sample rate (1610612736 Hz)", "1000 to 384000 Hz")),
        (500, 1, ("sample rate (500 Hz)",)),
        (16000, 64, ("64 channels", "1 to 32")),
    ],
)
def test_embed_audio_whose_header_is_out_of_bounds_is_refused_before_decoding(
    api_client: Client,
    file_server,  # type: ignore[no-untyped-def]
    settings,  # type: ignore[no-untyped-def]
    resampled: Resampled,
    source: str,
    rate: int,
    channels: int,
    words: tuple[str, ...],
) -> None:
    data = wav_declaring(sample_rate=rate, channels=channels, frames=10_000)
    base, files = file_server
    files["/a.wav"] = data
    settings.EMBEDDINGS_URL_ALLOWLIST = ["127.0.0.1"]
    field = {"file": {"audio_file": upload("a.wav", data)}, "url": {"audio_url": f"{base}/a.wav"}}

    response = post(api_client, **field[source])

    assert_error(response, 400, "parameter_invalid", *words)
    assert resampled.frames == []


def test_embed_audio_sample_rate_bounds_are_settings(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_AUDIO_MAX_SAMPLE_RATE = 22050
    data = make_audio("wav", seconds=1.0, sampling_rate=44100)

    response = post(api_client, audio_file=upload("a.wav", data))

    assert_error(response, 400, "parameter_invalid", "sample rate (44100 Hz)", "1000 to 22050 Hz")


@pytest.mark.parametrize(
    ("seconds", "offset"),
    [(0.005, "0"), (0.0099, "0"), (1.0, "0.995")],
    ids=["5ms", "9.9ms", "offset"],
)
def test_embed_audio_shorter_than_the_minimum_is_refused(
    api_client: Client, seconds: float, offset: str
) -> None:
    data = encode_audio(sine(seconds, sampling_rate=16000), "wav", sampling_rate=16000)

    response = post(api_client, audio_file=upload("a.wav", data), audio_start_offset_sec=offset)

    assert_error(response, 400, "parameter_invalid", "the shortest accepted is 0.1 s")


@pytest.mark.parametrize(
    ("field", "name", "content"),
    [
        ("image_file", "broken.png", b"\x89PNG\r\n\x1a\n not really"),
        ("image_file", "empty.jpg", b""),
        ("image_file", "drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        ("audio_file", "noise.mp3", bytes(range(256)) * 20),
        ("audio_file", "empty.wav", b""),
    ],
)
def test_embed_with_undecodable_media(
    api_client: Client, field: str, name: str, content: bytes
) -> None:
    response = post(api_client, **{field: upload(name, content)})

    assert_error(response, 400, "parameter_invalid", field.split("_")[0])


def test_embed_with_file_over_the_size_limit(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MAX_UPLOAD_BYTES = 1000
    response = post(api_client, image_file=upload("big.bmp", make_image("bmp", size=(300, 300))))

    assert_error(response, 413, "file_too_large", "1000")


def test_embed_with_image_url_to_a_private_address_is_refused(api_client: Client) -> None:
    response = post(api_client, image_url="http://127.0.0.1:9/cat.png")

    assert_error(response, 400, "parameter_invalid", "image_url", "refused")


def test_embed_with_non_http_url_is_refused(api_client: Client) -> None:
    assert_error(
        post(api_client, audio_url="file:///etc/passwd"), 400, "parameter_invalid", "audio_url"
    )


def test_embed_without_api_key() -> None:
    response = Client().post(EMBED_URL, {"model_name": "embeddinggemma-2", "text": "x"})

    assert_error(response, 401, "api_key_invalid", "x-api-key")


def test_embed_with_wrong_api_key(api_key: str) -> None:
    wrong = api_key[:-4] + ("aaaa" if not api_key.endswith("aaaa") else "bbbb")
    response = post(Client(headers={"x-api-key": wrong}), text="x")

    assert_error(response, 401, "api_key_invalid")


def test_embed_with_revoked_api_key() -> None:
    api_key, key = api_key_create(name="old")
    api_key_revoke(api_key=api_key)

    assert_error(post(Client(headers={"x-api-key": key}), text="x"), 401, "api_key_invalid")


def test_embed_without_key_when_keys_are_not_required(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_REQUIRE_API_KEY = False

    assert post(Client(), text="x").status_code == 200


@pytest.fixture
def frozen_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    # All requests of a test fall in one rate-limit window, whatever the clock says.
    moment = timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr("embeddings.ratelimit.timezone.now", lambda: moment)


@pytest.mark.usefixtures("frozen_minute")
def test_embed_over_the_rate_limit(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_RATE_LIMIT_PER_MINUTE = 2
    first, second, third = (post(api_client, text="x") for _ in range(3))

    assert (first.status_code, second.status_code) == (200, 200)
    assert first["X-Ratelimit-Remaining"] == "1"
    assert second["X-Ratelimit-Used"] == "2"
    assert_error(third, 429, "too_many_requests")
    assert 1 <= int(third["Retry-After"]) <= 60
    assert third["X-Ratelimit-Limit"] == "2"
    assert third["X-Ratelimit-Remaining"] == "0"
    assert int(third["X-Ratelimit-Reset"]) > 0


@pytest.mark.usefixtures("frozen_minute")
def test_embed_rate_limit_counts_each_key_separately(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_RATE_LIMIT_PER_MINUTE = 1
    other = Client(headers={"x-api-key": api_key_create(name="other")[1]})

    assert post(api_client, text="x").status_code == 200
    assert post(other, text="x").status_code == 200
    assert post(api_client, text="x").status_code == 429


def test_embed_when_the_model_cannot_load_says_how_to_fix_it(
    api_client: Client, settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODEL = str(tmp_path / "missing-model")

    response = post(api_client, text="x")

    assert_error(response, 503, "model_unavailable", "download_model", "EMBEDDINGS_MODEL")
    home = Client().get("/")
    assert home.status_code == 200
    assert "The embedding model is unavailable" in home.content.decode()


def test_embed_on_a_text_only_server_answers_text_and_says_where_media_go(
    api_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MODALITIES = ["text"]

    image = post(api_client, image_file=upload("photo.png", make_image("png")))
    audio = post(api_client, audio_file=upload("talk.wav", make_audio("wav", seconds=2.0)))

    assert post(api_client, text="a cat").status_code == 200
    assert_error(image, 503, "model_unavailable", "vision encoder", "EMBEDDINGS_MODALITIES")
    assert_error(audio, 503, "model_unavailable", "audio encoder", "EMBEDDINGS_MODALITIES")


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"garbage", "multipart/form-data", "not a valid form"),
        (b"garbage", "multipart/form-data; boundary=", "not a valid form"),
        (
            b'{"model_name": "embeddinggemma-2", "text": "x"}',
            "application/json",
            "multipart/form-data",
        ),
    ],
)
def test_embed_with_a_body_that_is_not_a_form(
    api_client: Client, body: bytes, content_type: str, words: str
) -> None:
    response = api_client.post(EMBED_URL, body, content_type=content_type)

    assert_error(response, 400, "parameter_invalid", words)


def test_embed_get_is_not_allowed(api_client: Client) -> None:
    response = api_client.get(EMBED_URL)

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_openapi_document_describes_both_embed_paths() -> None:
    response = Client().get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert {"/v1.2/embed", "/v1.3/embed"} <= set(document["paths"])
    form = document["paths"]["/v1.3/embed"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(form["schema"]["properties"]) == {
        "model_name",
        "text",
        "text_truncate",
        "image_url",
        "image_file",
        "audio_url",
        "audio_file",
        "audio_start_offset_sec",
    }
    error_codes = document["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    assert {
        "parameter_invalid",
        "api_key_invalid",
        "too_many_requests",
        "model_unavailable",
    } <= set(error_codes)
