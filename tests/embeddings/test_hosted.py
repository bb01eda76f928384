"""A hosted model (EMBEDDINGS_BACKEND=twelvelabs) against this project's own Embed API v2, served
in-process: the vectors are the serving model's, each input is one request with the key and
the model's name, and what keeps the API from answering is a 503-kind failure that says why."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from bench.media_factory import noise_image, sine
from embeddings.conf import ModelSettings, embeddings_settings, hosted_source
from embeddings.engine import registry
from embeddings.engine.base import EmbeddingModel, ModelUnavailable
from embeddings.engine.hosted import SAMPLING_RATE, HostedEmbeddingModel, load_hosted_model
from embeddings.errors import InputError, InputTooLarge
from embeddings.media.video import VideoClip

pytestmark = pytest.mark.django_db

URL = "http://hosted.example/v1.3"


class ThisServer(httpx.BaseTransport):
    """This project's Embed API on its local model, through Django's test client (which keeps
    the test's database connection open); each request's JSON body is recorded, with its path
    and key. With `reachable` False, nothing answers."""

    def __init__(self) -> None:
        self.client = Client()
        self.reachable = True
        self.requests: list[tuple[str, str, dict[str, object]]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.reachable:
            raise httpx.ConnectError("connection refused", request=request)
        body = request.read()
        self.requests.append((request.url.path, request.headers["x-api-key"], json.loads(body)))
        with override_settings(EMBEDDINGS_BACKEND="local"):
            response = self.client.generic(
                request.method,
                request.url.path,
                data=body,
                content_type=request.headers["content-type"],
                headers={"x-api-key": request.headers["x-api-key"]},
            )
        return httpx.Response(
            response.status_code, headers=dict(response.headers), content=response.content
        )


def hosted_settings(key: str, *, model: str = "marengo3.0") -> ModelSettings:
    return replace(
        embeddings_settings().model,
        backend="twelvelabs",
        source=hosted_source(model=model, url=URL),
        remote_url=URL,
        remote_api_key=key,
        remote_model=model,
    )


@pytest.fixture
def server() -> ThisServer:
    return ThisServer()


@pytest.fixture
def hosted(server: ThisServer, api_key: str) -> HostedEmbeddingModel:
    model = load_hosted_model(hosted_settings(api_key), transport=server)
    assert isinstance(model, HostedEmbeddingModel)
    server.requests.clear()
    return model


def clip(*, audio: bool) -> VideoClip:
    # Blocks of colour, as a camera's frames are, rather than noise, which no video codec keeps.
    blocks = np.random.default_rng(1).integers(0, 256, (4, 6, 8, 3), dtype=np.uint8)
    return VideoClip(
        start_sec=12.0,
        end_sec=16.0,
        frames=blocks.repeat(8, axis=1).repeat(8, axis=2),
        frame_times=(12.0, 13.0, 14.0, 15.0),
        audio=sine(4.0, sampling_rate=SAMPLING_RATE)[0] if audio else None,
    )


def cosines(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    assert got.shape == expected.shape
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    return np.asarray((got * expected).sum(axis=1))


def test_the_hosted_model_is_named_by_its_api_and_learns_its_dimension_from_one_text(
    server: ThisServer, api_key: str, model: EmbeddingModel
) -> None:
    hosted = load_hosted_model(hosted_settings(api_key), transport=server)

    assert hosted.source == f"marengo3.0@{URL}"
    assert hosted.dimension == model.dimension
    assert [(path, key) for path, key, _ in server.requests] == [("/v1.3/embed-v2", api_key)]
    assert server.requests[0][2]["model_name"] == "marengo3.0"


def test_hosted_vectors_are_the_serving_models_for_every_kind_of_input(
    hosted: HostedEmbeddingModel, model: EmbeddingModel
) -> None:
    texts = ["a dog on the beach", "birdsong at dawn"]
    image = noise_image(1, size=(320, 240))
    waveforms = [sine(2.0, sampling_rate=SAMPLING_RATE)[0]]
    clips = [clip(audio=True), clip(audio=False)]

    # Texts and images reach the server exactly (PNG is lossless): the same vectors, but for
    # the last bits (one input a forward pass instead of a batch).
    np.testing.assert_allclose(hosted.embed_texts(texts), model.embed_texts(texts), atol=1e-6)
    np.testing.assert_allclose(hosted.embed_images([image]), model.embed_images([image]), atol=1e-6)
    for parts in ([image, "at night"], ["a photo", image, "at night"], [image]):
        np.testing.assert_allclose(
            hosted.embed_interleaved(parts), model.embed_interleaved(parts), atol=1e-6
        )
    # Audio goes as 16-bit WAV, video as H.264 and AAC: close, not equal.
    assert cosines(hosted.embed_audio(waveforms), model.embed_audio(waveforms)).min() > 0.999
    for option in ("visual", "fused"):
        got = hosted.embed_video_clips(clips, option=option)
        assert cosines(got, model.embed_video_clips(clips, option=option)).min() > 0.999


def test_each_input_is_one_request_of_its_own_input_type(
    hosted: HostedEmbeddingModel, server: ThisServer
) -> None:
    image = noise_image(2, size=(64, 64))
    hosted.embed_texts(["one", "two"])
    hosted.embed_images([image])
    hosted.embed_image_with_text(image, "a red door")
    hosted.embed_audio([sine(1.0, sampling_rate=SAMPLING_RATE)[0]])
    hosted.embed_video_clips([clip(audio=True)], option="fused")

    assert [body["input_type"] for _, _, body in server.requests] == [
        "text",
        "text",
        "image",
        "text_image",
        "audio",
        "video",
    ]
    video = server.requests[-1][2]["video"]
    assert isinstance(video, dict)
    assert video["embedding_type"] == ["fused_embedding"]
    assert video["embedding_scope"] == ["asset"]


def test_long_texts_are_cut_at_the_end_by_the_api(
    hosted: HostedEmbeddingModel,
    model: EmbeddingModel,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    text = "the quick brown fox jumps over the lazy dog " * 40
    cut = model.truncate_text(text, max_tokens=settings.EMBEDDINGS_TEXT_MAX_TOKENS, side="end")

    assert hosted.truncate_text(text, max_tokens=9, side="end") == text
    np.testing.assert_allclose(hosted.embed_texts([text]), model.embed_texts([cut]), atol=1e-6)
    with pytest.raises(InputError, match="at the end only"):
        hosted.truncate_text(text, max_tokens=9, side="start")
    with pytest.raises(ModelUnavailable, match="tokenizer is not on this server"):
        hosted.count_tokens(text)


def test_inputs_the_api_refuses_are_the_callers_errors(
    hosted: HostedEmbeddingModel,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.EMBEDDINGS_IMAGE_MAX_PIXELS = 100 * 100
    with pytest.raises(
        InputError, match=r"The hosted model refused the input: .*the limit is 10000"
    ):
        hosted.embed_images([noise_image(3, size=(101, 100))])

    settings.EMBEDDINGS_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(InputTooLarge, match="larger than 1000 bytes"):
        hosted.embed_audio([sine(1.0, sampling_rate=SAMPLING_RATE)[0]])
    # The caller's errors leave the API answering.
    assert hosted.answering()


def test_a_refused_key_says_which_setting_to_fix(server: ThisServer, api_key: str) -> None:
    with pytest.raises(ModelUnavailable, match=r"refused the API key \(EMBEDDINGS_REMOTE_API_KEY"):
        load_hosted_model(hosted_settings("not-a-key"), transport=server)


def test_a_model_the_api_does_not_have_says_which_setting_to_fix(
    server: ThisServer, api_key: str
) -> None:
    with pytest.raises(ModelUnavailable, match=r"'pegasus1.2' \(EMBEDDINGS_REMOTE_MODEL\)"):
        load_hosted_model(hosted_settings(api_key, model="pegasus1.2"), transport=server)


def test_an_api_that_cannot_answer_rests_and_says_why(
    hosted: HostedEmbeddingModel,
    server: ThisServer,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    server.reachable = False
    with pytest.raises(ModelUnavailable, match=rf"{URL} \(EMBEDDINGS_REMOTE_URL\) could not be"):
        hosted.embed_texts(["a red car"])
    # Waiting work is not queued again only to fail, until the rest is over.
    assert not hosted.answering()

    server.reachable = True
    settings.EMBEDDINGS_MODEL = "/nowhere/no-model"  # the serving side's model is missing: 503
    with pytest.raises(ModelUnavailable, match=r"answered 503: .*could not be loaded"):
        hosted.embed_texts(["a red car"])


def test_a_rate_limited_key_rests_as_long_as_the_api_asks(
    hosted: HostedEmbeddingModel,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.EMBEDDINGS_RATE_LIMIT_PER_MINUTE = 1
    with pytest.raises(ModelUnavailable, match=r"answered 429: .*retry in \d+ s"):
        # The limit counts whole minutes: of three requests, two fall in one of them.
        for text in ("one", "two", "three"):
            hosted.embed_texts([text])

    assert not hosted.answering()


def test_the_backend_needs_a_key_and_an_http_url(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_BACKEND = "twelvelabs"
    with pytest.raises(ImproperlyConfigured, match="set EMBEDDINGS_REMOTE_API_KEY"):
        embeddings_settings()

    settings.EMBEDDINGS_REMOTE_API_KEY = "tlk_a-key"
    settings.EMBEDDINGS_REMOTE_URL = "api.twelvelabs.io"
    with pytest.raises(ImproperlyConfigured, match="give an http"):
        embeddings_settings()

    settings.EMBEDDINGS_REMOTE_URL = "https://api.twelvelabs.io/v1.3/"
    config = embeddings_settings().model
    assert config.source == "marengo3.0@https://api.twelvelabs.io/v1.3"
    assert config.image_tokens is None


def test_vectors_of_one_backend_are_made_again_by_it_while_another_is_configured(
    settings,
    tiny_model_dir,  # type: ignore[no-untyped-def]
) -> None:
    local = embeddings_settings().model
    settings.EMBEDDINGS_BACKEND = "twelvelabs"
    settings.EMBEDDINGS_REMOTE_API_KEY = "tlk_a-key"
    hosted = embeddings_settings().model

    # Searches keep using the old vectors during a switch, and need their model for the query.
    assert hosted.for_source(str(tiny_model_dir)).backend == "local"
    assert hosted.for_source(str(tiny_model_dir)).source == str(tiny_model_dir)
    back = local.for_source(hosted.source)
    assert (back.backend, back.remote_url, back.remote_model) == (
        "twelvelabs",
        "https://api.twelvelabs.io/v1.3",
        "marengo3.0",
    )
    assert hosted.for_source(hosted.source) == hosted


def test_warming_up_a_hosted_model_embeds_nothing(
    hosted: HostedEmbeddingModel,
    server: ThisServer,
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.EMBEDDINGS_BACKEND = "twelvelabs"
    settings.EMBEDDINGS_REMOTE_API_KEY = "tlk_a-key"
    monkeypatch.setattr(registry, "get_model", lambda: hosted)

    registry.warm_up()

    # Loading made its one request already; warming up would only add billed ones.
    assert server.requests == []
