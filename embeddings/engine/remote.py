"""The model on inference nodes (EMBEDDINGS_BACKEND=remote): every call goes over HTTP to one
of the nodes, which runs it on its own model (`embeddings.inference`), so the vectors are the
ones a local model makes. A batch goes as one call; nothing here imports torch."""

from __future__ import annotations

import ipaddress
import itertools
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx
import numpy as np
from PIL.Image import Image

from embeddings.engine.base import (
    ClipInput,
    EmbeddingModel,
    Modality,
    ModelUnavailable,
    Part,
    TruncateSide,
)
from embeddings.errors import InputError, InputTooLarge
from embeddings.inference import calls, wire

if TYPE_CHECKING:
    from embeddings.conf import ModelSettings
    from embeddings.media.video import VideoClip

logger = logging.getLogger(__name__)

Input = TypeVar("Input")
# A node that failed is left out this long, then tried again.
NODE_REST_SEC = 30.0
# How often the nodes' host names are looked up again.
RESOLVE_EVERY_SEC = 30.0
CONNECT_TIMEOUT_SEC = 5.0
# Inputs of one call: a bigger batch goes as several calls of about this size.
MAX_CALL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Node:
    url: str
    # The Host header where `url` names one address of the configured URL's host.
    host: str | None = None

    @property
    def name(self) -> str:
        return self.url if self.host is None else f"{self.url} ({self.host})"


def nodes_at(url: str) -> list[Node]:
    """One node per address of an http URL's host name where it has several (a service scaled
    behind one DNS name, as `docker compose --scale` makes): a connection kept open to one of
    them would otherwise take every call, and a replica that fails would rest them all. IPv4
    addresses where there are any. The URL itself otherwise."""
    parsed = httpx.URL(url)
    try:
        ipaddress.ip_address(parsed.host)
        return [Node(url)]  # an address already
    except ValueError:
        pass
    if parsed.scheme != "http":
        return [Node(url)]  # a certificate names the host, not its addresses
    try:
        found = socket.getaddrinfo(parsed.host, parsed.port or 80, type=socket.SOCK_STREAM)
    except OSError:
        return [Node(url)]  # the call will say why
    by_family = {
        family: sorted({str(info[4][0]) for info in found if info[0] == family})
        for family in (socket.AF_INET, socket.AF_INET6)
    }
    addresses = by_family[socket.AF_INET] or by_family[socket.AF_INET6]
    if len(addresses) < 2:
        return [Node(url)]
    host = parsed.netloc.decode("ascii")
    return [Node(str(parsed.copy_with(host=address)), host=host) for address in addresses]


class InferenceNodes:
    """The nodes, taken in turn. One that cannot be reached, times out or answers 5xx (or
    refuses the secret) is left out for NODE_REST_SEC and the call goes to the next; each node
    is tried at most once a call, so a call waits at most the timeout once per node. Host names
    are looked up again every RESOLVE_EVERY_SEC (nodes_at), so replicas started later join."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        secret: str,
        timeout_sec: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.urls = [url.rstrip("/") for url in urls]
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_sec, connect=min(CONNECT_TIMEOUT_SEC, timeout_sec)),
            headers={wire.SECRET_HEADER: secret},
            transport=transport,
        )
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._resting_until: dict[Node, float] = {}
        self._nodes: list[Node] = []
        self._resolved_at = -math.inf

    def call(self, operation: str, request: calls.Call | None = None) -> httpx.Response:
        """The node's answer (2xx); InputError for a 4xx about the input, ModelUnavailable when
        no node answers."""
        body = None if request is None else wire.encode(*request)
        failures = []
        for node in self._order():
            headers = {"Content-Type": wire.CONTENT_TYPE}
            if node.host is not None:
                headers["Host"] = node.host
            try:
                response = self._client.request(
                    "GET" if body is None else "POST",
                    f"{node.url}/inference/v1/{operation}",
                    content=body,
                    headers=headers,
                )
            except httpx.HTTPError as error:
                failures.append(f"{node.name}: {error or type(error).__name__}")
                self._rest(node)
                continue
            if response.is_success:
                return response
            message = _message(response)
            if response.status_code == 413:
                raise InputTooLarge(message)
            if response.status_code == 400:
                raise InputError(message)
            failures.append(f"{node.name}: {response.status_code} {message}")
            self._rest(node)
        raise ModelUnavailable(
            "No inference node answered (EMBEDDINGS_INFERENCE_URLS): " + "; ".join(failures)
        )

    def any_answering(self) -> bool:
        """Whether a node has not failed in the last NODE_REST_SEC."""
        nodes = self._current()
        with self._lock:
            now = time.monotonic()
            return any(self._resting_until.get(node, 0.0) <= now for node in nodes)

    def _current(self) -> list[Node]:
        if time.monotonic() - self._resolved_at >= RESOLVE_EVERY_SEC:
            # Looked up outside the lock: a slow name server holds up no other call.
            nodes = [node for url in self.urls for node in nodes_at(url)]
            with self._lock:
                self._nodes, self._resolved_at = nodes, time.monotonic()
        return self._nodes

    def _order(self) -> list[Node]:
        """Every node, starting with the next in turn, the resting ones last."""
        nodes = self._current()
        with self._lock:
            start = next(self._turn) % len(nodes)
            turn = nodes[start:] + nodes[:start]
            now = time.monotonic()
            resting = {node for node in turn if self._resting_until.get(node, 0.0) > now}
        return [node for node in turn if node not in resting] + [
            node for node in turn if node in resting
        ]

    def _rest(self, node: Node) -> None:
        logger.warning(
            "Inference node %s failed; leaving it out for %.0f s", node.name, NODE_REST_SEC
        )
        with self._lock:
            self._resting_until[node] = time.monotonic() + NODE_REST_SEC


class RemoteEmbeddingModel(EmbeddingModel):
    def __init__(
        self,
        nodes: InferenceNodes,
        *,
        source: str,
        dimension: int,
        sampling_rate: int,
        modalities: frozenset[Modality],
    ) -> None:
        super().__init__(source=source, modalities=modalities)
        self.nodes = nodes
        self._dimension = dimension
        self._sampling_rate = sampling_rate

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def sampling_rate(self) -> int:
        return self._sampling_rate

    def answering(self) -> bool:
        return self.nodes.any_answering()

    def count_tokens(self, text: str) -> int:
        return int(self._answer("count_tokens", calls.texts_request([text]))["tokens"][0])

    def truncate_text(self, text: str, *, max_tokens: int, side: TruncateSide) -> str:
        header, arrays = calls.texts_request([text])
        answer = self._answer(
            "truncate_text", ({**header, "max_tokens": max_tokens, "side": side}, arrays)
        )
        return str(answer["texts"][0])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed("embed_texts", texts, calls.texts_request, size=len)

    def embed_images(
        self, images: Sequence[Image], *, image_tokens: int | None = None
    ) -> np.ndarray:
        self._require("image")
        return self._embed(
            "embed_images",
            images,
            lambda batch: calls.images_request(batch, image_tokens=image_tokens),
            size=lambda image: image.width * image.height * 3,
        )

    def embed_audio(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        self._require("audio")
        return self._embed(
            "embed_audio", waveforms, calls.audio_request, size=lambda samples: samples.size * 4
        )

    def embed_interleaved(
        self, parts: Sequence[Part], *, image_tokens: int | None = None
    ) -> np.ndarray:
        if any(isinstance(part, Image) for part in parts):
            self._require("image")
        request = calls.interleaved_request(parts, image_tokens=image_tokens)
        (vector,) = self._vectors("embed_interleaved", request, count=1)
        return cast(np.ndarray, vector)

    def embed_video_clips(
        self, clips: Sequence[VideoClip], *, option: ClipInput, frame_tokens: int | None = None
    ) -> np.ndarray:
        self._require("image")
        if option == "fused":
            self._require("audio")
        return self._embed(
            "embed_video_clips",
            clips,
            lambda batch: calls.video_clips_request(
                batch, option=option, frame_tokens=frame_tokens
            ),
            size=lambda clip: (
                clip.frames.nbytes + (0 if clip.audio is None else clip.audio.size * 4)
            ),
        )

    def _require(self, modality: Modality) -> None:
        if modality not in self.modalities:
            raise ModelUnavailable(
                f"The inference nodes do not load the model's {modality} encoder "
                f"(EMBEDDINGS_MODALITIES on the nodes); add {modality} there."
            )

    def _embed(
        self,
        operation: str,
        inputs: Sequence[Input],
        request: Callable[[Sequence[Input]], calls.Call],
        *,
        size: Callable[[Input], int],
    ) -> np.ndarray:
        if not inputs:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(
            [
                self._vectors(operation, request(batch), count=len(batch))
                for batch in _batches(inputs, size)
            ]
        )

    def _vectors(self, operation: str, request: calls.Call, *, count: int) -> np.ndarray:
        _, arrays = wire.decode(self.nodes.call(operation, request).content)
        if len(arrays) != 1 or arrays[0].shape != (count, self.dimension):
            shapes = ", ".join(str(array.shape) for array in arrays)
            raise ModelUnavailable(
                f"An inference node answered {operation} with arrays of shape {shapes}, not "
                f"({count}, {self.dimension}): do all the nodes run the same model?"
            )
        return arrays[0].copy()

    def _answer(self, operation: str, request: calls.Call) -> dict[str, Any]:
        header, _ = wire.decode(self.nodes.call(operation, request).content)
        return header


def _batches(inputs: Sequence[Input], size: Callable[[Input], int]) -> Iterator[Sequence[Input]]:
    """The inputs in calls of at most calls.MAX_INPUTS inputs and about MAX_CALL_BYTES."""
    start, held = 0, 0
    for index, item in enumerate(inputs):
        held += size(item)
        if index > start and (held > MAX_CALL_BYTES or index - start >= calls.MAX_INPUTS):
            yield inputs[start:index]
            start, held = index, size(item)
    yield inputs[start:]


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


def load_remote_model(
    config: ModelSettings, transport: httpx.BaseTransport | None = None
) -> EmbeddingModel:
    """The model the inference nodes run, which must be the one this process is set to:
    vectors of another model would not be comparable with the library's."""
    nodes = InferenceNodes(
        config.inference_urls,
        secret=config.inference_secret,
        timeout_sec=config.inference_timeout_sec,
        transport=transport,
    )
    info = nodes.call("info").json()
    if info["source"] != config.source:
        raise ModelUnavailable(
            f"The inference nodes run {info['source']!r}, and this process is set to "
            f"{config.source!r}: set EMBEDDINGS_MODEL the same on every tier."
        )
    logger.info("Embedding on inference nodes %s (%s)", ", ".join(nodes.urls), info["source"])
    return RemoteEmbeddingModel(
        nodes,
        source=info["source"],
        dimension=int(info["dimension"]),
        sampling_rate=int(info["sampling_rate"]),
        modalities=frozenset(info["modalities"]) & config.modalities,
    )
