"""The model on inference nodes (EMBEDDINGS_BACKEND=remote), against this project's own node
view served in-process through WSGI: the vectors are the node's model's, a batch is one call,
a failing node is left out, and every refusal keeps the API's error contract."""

from __future__ import annotations

import itertools
import socket
import struct
from collections.abc import Iterator
from dataclasses import replace

import httpx
import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from PIL import Image

from bench.media_factory import noise_image, sine
from embeddings.conf import ModelSettings, embeddings_settings
from embeddings.engine import remote
from embeddings.engine.base import EmbeddingModel, ModelUnavailable
from embeddings.engine.remote import RemoteEmbeddingModel, load_remote_model
from embeddings.errors import InputError
from embeddings.inference import wire
from embeddings.media.video import VideoClip

pytestmark = pytest.mark.django_db

SECRET = "a-secret-the-tiers-share"


class Nodes(httpx.BaseTransport):
    """Inference nodes by host name: the live ones answer through this process's WSGI app (the
    node's view, on the test's local model), the others cannot be reached. Each request is
    recorded as (host, operation)."""

    def __init__(self, *, live: set[str]) -> None:
        self.live = live
        self.requests: list[tuple[str, str]] = []
        self._app = httpx.WSGITransport(app=WSGIHandler())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.url.host, request.url.path.rsplit("/", 1)[-1]))
        if request.url.host not in self.live:
            raise httpx.ConnectError("connection refused", request=request)
        return self._app.handle_request(request)


@pytest.fixture(autouse=True)
def _nodes(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_INFERENCE_SECRET = SECRET
    # Not the addresses a scaled service's name has: a node is asked by its name.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "node-1", "node-2", "inference"]


def remote_settings(*hosts: str, secret: str = SECRET) -> ModelSettings:
    return replace(
        embeddings_settings().model,
        backend="remote",
        inference_urls=tuple(f"http://{host}" for host in hosts),
        inference_secret=secret,
    )


@pytest.fixture
def nodes() -> Nodes:
    return Nodes(live={"node-1", "node-2"})


@pytest.fixture
def remote_model(nodes: Nodes) -> RemoteEmbeddingModel:
    model = load_remote_model(remote_settings("node-1", "node-2"), transport=nodes)
    assert isinstance(model, RemoteEmbeddingModel)
    nodes.requests.clear()
    return model


def photo(seed: int, size: tuple[int, int]) -> Image.Image:
    return noise_image(seed, size=size)


def clip(seconds: float, *, audio: bool) -> VideoClip:
    frames = np.random.default_rng(1).integers(0, 256, (4, 48, 64, 3), dtype=np.uint8)
    return VideoClip(
        start_sec=0.0,
        end_sec=seconds,
        frames=frames,
        frame_times=(0.0, 1.0, 2.0, 3.0),
        audio=sine(seconds, sampling_rate=16_000)[0] if audio else None,
    )


def test_the_nodes_model_is_described_as_the_local_one(
    remote_model: RemoteEmbeddingModel, model: EmbeddingModel
) -> None:
    assert remote_model.source == model.source
    assert remote_model.dimension == model.dimension
    assert remote_model.sampling_rate == model.sampling_rate
    assert remote_model.modalities == model.modalities


def test_remote_vectors_are_the_nodes_models_for_every_kind_of_input(
    remote_model: RemoteEmbeddingModel, model: EmbeddingModel
) -> None:
    texts = ["a dog on the beach", "birdsong at dawn", "ein rotes Auto"]
    images = [photo(1, (320, 240)), photo(2, (97, 640))]
    waveforms = [
        sine(2.0, sampling_rate=16_000)[0],
        sine(7.5, sampling_rate=16_000, frequency=220.0)[0],
    ]
    clips = [clip(4.0, audio=True), clip(4.0, audio=False)]
    pairs = [
        (remote_model.embed_texts(texts), model.embed_texts(texts)),
        (
            remote_model.embed_images(images, image_tokens=70),
            model.embed_images(images, image_tokens=70),
        ),
        (remote_model.embed_audio(waveforms), model.embed_audio(waveforms)),
        (
            remote_model.embed_interleaved(["a photo", images[0], "at night"]),
            model.embed_interleaved(["a photo", images[0], "at night"]),
        ),
        (
            remote_model.embed_video_clips(clips, option="fused"),
            model.embed_video_clips(clips, option="fused"),
        ),
    ]

    for got, expected in pairs:
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)


def test_token_counts_and_truncation_are_the_nodes_tokenizers(
    remote_model: RemoteEmbeddingModel, model: EmbeddingModel
) -> None:
    text = "the quick brown fox jumps over the lazy dog " * 20

    assert remote_model.count_tokens(text) == model.count_tokens(text)
    for side in ("start", "end"):
        assert remote_model.truncate_text(text, max_tokens=9, side=side) == (
            model.truncate_text(text, max_tokens=9, side=side)
        )


def test_a_batch_goes_as_one_call_and_calls_take_the_nodes_in_turn(
    remote_model: RemoteEmbeddingModel, nodes: Nodes
) -> None:
    remote_model.embed_texts([f"text {index}" for index in range(40)])
    remote_model.embed_images([photo(index, (64, 64)) for index in range(5)])
    remote_model.embed_audio([sine(1.0, sampling_rate=16_000)[0]] * 3)

    assert [operation for _, operation in nodes.requests] == [
        "embed_texts",
        "embed_images",
        "embed_audio",
    ]
    assert {host for host, _ in nodes.requests} == {"node-1", "node-2"}


def test_a_node_that_cannot_be_reached_is_left_out_and_its_call_goes_to_another(
    remote_model: RemoteEmbeddingModel, nodes: Nodes, model: EmbeddingModel
) -> None:
    nodes.live = {"node-2"}

    vectors = [remote_model.embed_texts(["a red car"]) for _ in range(4)]

    for vector in vectors:
        np.testing.assert_array_equal(vector, model.embed_texts(["a red car"]))
    # node-1 failed once, then rested while node-2 took every call.
    assert nodes.requests.count(("node-1", "embed_texts")) == 1
    assert nodes.requests.count(("node-2", "embed_texts")) == 4


def test_with_every_node_down_a_call_says_which_nodes_failed_and_how(
    remote_model: RemoteEmbeddingModel, nodes: Nodes
) -> None:
    nodes.live = set()

    with pytest.raises(ModelUnavailable, match=r"No inference node answered") as failure:
        remote_model.embed_texts(["a red car"])

    assert "http://node-1: connection refused" in str(failure.value)
    assert "http://node-2: connection refused" in str(failure.value)
    # Until a node's rest is over, waiting work is not queued again only to fail.
    assert not remote_model.answering()


def test_the_node_holds_inputs_to_its_own_limits(
    remote_model: RemoteEmbeddingModel,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.EMBEDDINGS_IMAGE_MAX_PIXELS = 100 * 100

    with pytest.raises(InputError, match=r"up to 10000 pixels"):
        remote_model.embed_images([photo(1, (101, 100))])


def test_a_process_with_another_secret_is_refused_by_every_node(nodes: Nodes) -> None:
    with pytest.raises(ModelUnavailable, match=r"does not match this node's"):
        load_remote_model(remote_settings("node-1", secret="guessed"), transport=nodes)


def test_nodes_running_another_model_are_refused_at_load(nodes: Nodes) -> None:
    config = replace(remote_settings("node-1"), source="another/model")

    with pytest.raises(ModelUnavailable, match=r"set EMBEDDINGS_MODEL the same on every tier"):
        load_remote_model(config, transport=nodes)


def test_the_embed_api_of_a_remote_process_whose_nodes_are_down_answers_503(
    api_client: Client,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.EMBEDDINGS_BACKEND = "remote"
    settings.EMBEDDINGS_INFERENCE_URLS = ("http://127.0.0.1:9",)

    response = api_client.post(
        "/v1.3/embed", {"model_name": "embeddinggemma-2", "text": "a red car"}
    )

    assert response.status_code == 503
    assert response.json()["code"] == "model_unavailable"
    assert "No inference node answered" in response.json()["message"]


@pytest.fixture
def node_client() -> Iterator[Client]:
    yield Client(headers={wire.SECRET_HEADER: SECRET})


def call(client: Client, operation: str, body: bytes) -> tuple[int, dict[str, str]]:
    response = client.post(f"/inference/v1/{operation}", body, content_type=wire.CONTENT_TYPE)
    return response.status_code, response.json()


def test_a_node_takes_no_calls_without_a_secret_of_its_own(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_INFERENCE_SECRET = ""

    response = Client(headers={wire.SECRET_HEADER: ""}).get("/inference/v1/info")

    assert response.status_code == 404
    assert "set EMBEDDINGS_INFERENCE_SECRET" in response.json()["message"]


@pytest.mark.parametrize(
    ("operation", "body", "message"),
    [
        ("embed_texts", b"\x00\x00", "shorter than its header"),
        ("embed_texts", b"\xff\xff\xff\xff{}", "beyond the body"),
        ("embed_texts", struct.pack(">I", 200_000) + b"[" * 100_000 + b"]" * 100_000, "nests"),
        ("embed_texts", wire.encode({"texts": ["a"] * 257}), "at most 256 texts"),
        ("embed_texts", wire.encode({"texts": ["a" * 200_001]}), "longer than 200000"),
        (
            "embed_images",
            wire.encode({}, [np.zeros((2, 2), dtype=np.uint8)]),
            "not a 3-D array of uint8",
        ),
        (
            "embed_audio",
            wire.encode({}, [np.full(16_000, np.nan, dtype=np.float32)]),
            "finite samples",
        ),
        ("embed_audio", wire.encode({}, [np.zeros(4, dtype=np.float32)]) + b"x", "longer than"),
        ("embed_everything", wire.encode({}), "there is no call"),
    ],
)
def test_a_node_refuses_a_call_it_cannot_take_before_any_work(
    node_client: Client,
    model: EmbeddingModel,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    body: bytes,
    message: str,
) -> None:
    def no_forward_pass(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model ran")

    for name in ("embed_texts", "embed_images", "embed_audio", "count_tokens"):
        monkeypatch.setattr(model, name, no_forward_pass)

    status, answer = call(node_client, operation, body)

    assert status == 400
    assert message in answer["message"]


def test_a_node_refuses_a_body_beyond_the_request_limit_from_its_headers(
    node_client: Client,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.EMBEDDINGS_MAX_UPLOAD_BYTES = 1000

    status, answer = call(node_client, "embed_texts", wire.encode({"texts": ["a" * 4_000_000]}))

    assert status == 413
    assert answer["code"] == "file_too_large"


def test_a_node_whose_own_backend_is_remote_refuses_calls(node_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_BACKEND = "remote"
    settings.EMBEDDINGS_INFERENCE_URLS = ("http://127.0.0.1:9",)

    response = node_client.get("/inference/v1/info")

    assert response.status_code == 503
    assert "Set EMBEDDINGS_BACKEND=local on it" in response.json()["message"]


def test_wire_arrays_come_back_as_they_went() -> None:
    arrays = [
        np.arange(12, dtype=np.uint8).reshape(2, 2, 3),
        np.linspace(-1, 1, 7, dtype=np.float32),
        np.zeros((0, 768), dtype=np.float32),
    ]

    header, decoded = wire.decode(wire.encode({"texts": ["é"]}, arrays))

    assert header == {"texts": ["é"]}
    for got, sent in zip(decoded, arrays, strict=True):
        assert got.dtype == sent.dtype
        np.testing.assert_array_equal(got, sent)


def test_a_remote_backend_without_nodes_or_secret_is_a_configuration_error(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_BACKEND = "remote"
    settings.EMBEDDINGS_INFERENCE_URLS = ()

    with pytest.raises(ImproperlyConfigured, match=r"set EMBEDDINGS_INFERENCE_URLS"):
        embeddings_settings()


def name_server(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """Host names answer with these addresses (a dict the test may change); others are unknown."""

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (each, port)) for each in answers[host]]

    monkeypatch.setattr(remote.socket, "getaddrinfo", getaddrinfo)


def test_a_service_scaled_behind_one_name_is_one_node_per_replica(
    nodes: Nodes, model: EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    name_server(monkeypatch, {"inference": ["10.0.0.2", "10.0.0.1"]})
    nodes.live = {"10.0.0.1", "10.0.0.2"}
    scaled = load_remote_model(remote_settings("inference"), transport=nodes)
    nodes.requests.clear()

    vectors = [scaled.embed_texts(["a red car"]) for _ in range(4)]

    for vector in vectors:
        np.testing.assert_array_equal(vector, model.embed_texts(["a red car"]))
    # Each replica asked by the service's name (a node refuses other hosts), in turn.
    hosts = [host for host, _ in nodes.requests]
    assert hosts.count("10.0.0.1") == hosts.count("10.0.0.2") == 2
    assert all(one != next_one for one, next_one in itertools.pairwise(hosts))

    nodes.live = {"10.0.0.2"}
    nodes.requests.clear()
    for _ in range(3):
        scaled.embed_texts(["a red car"])

    # The replica that went away rests alone; the other takes the calls.
    assert [host for host, _ in nodes.requests].count("10.0.0.1") == 1
    assert [host for host, _ in nodes.requests].count("10.0.0.2") == 3
    assert scaled.answering()


def test_replicas_started_later_join_when_the_name_is_looked_up_again(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"inference": ["10.0.0.1", "10.0.0.2"]}
    name_server(monkeypatch, answers)
    monkeypatch.setattr(remote, "RESOLVE_EVERY_SEC", 0.0)
    nodes.live = {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    scaled = load_remote_model(remote_settings("inference"), transport=nodes)

    answers["inference"].append("10.0.0.3")
    nodes.requests.clear()
    for _ in range(3):
        scaled.embed_texts(["a red car"])

    assert {host for host, _ in nodes.requests} == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}


def test_a_name_with_one_address_or_none_is_asked_as_it_is(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    name_server(monkeypatch, {"node-1": ["10.0.0.1"]})

    remote_model = load_remote_model(remote_settings("node-1", "node-2"), transport=nodes)

    assert {host for host, _ in nodes.requests} <= {"node-1", "node-2"}
    assert remote_model.embed_texts(["a"]).shape == (1, remote_model.dimension)
