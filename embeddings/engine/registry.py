from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from django.utils.module_loading import import_string

from embeddings.conf import ModelSettings, embeddings_settings
from embeddings.engine.base import EmbeddingModel, ModelUnavailable

logger = logging.getLogger(__name__)

# (settings, whether to use only files already on this machine) -> the model.
ModelFactory = Callable[[ModelSettings, bool], EmbeddingModel]

# One look at the hub before asking it for files: its client retries for about a minute when
# the network is down, and the first search would wait that long.
HUB_PROBE_TIMEOUT_SEC = 5.0


def export_cache_dir(source: str) -> Path:
    """Where exports of the model for other runtimes are kept: beside the model where it is a
    folder this process may write to, in the Hugging Face cache otherwise."""
    if Path(source).is_dir() and os.access(source, os.W_OK):
        return Path(source) / "exports"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / "exports" / source.replace("/", "--")


# config.json `model_type` -> the function that loads it. A new family is one entry and one
# module, imported when a model of its family loads: processes that load none (`manage.py
# migrate`, `check`) start without importing torch.
FAMILIES: dict[str, str] = {
    "embedding_gemma2": "embeddings.engine.sentence_transformer.load_sentence_transformer",
}

# A failed load is not retried for this long, so a missing model costs each request nothing.
RETRY_AFTER_FAILURE_SEC = 30.0


class ModelCache:
    """The process's model: loaded once on first use, under a lock so that two requests never
    load it twice, and replaced when the settings change. A load that failed is remembered for
    RETRY_AFTER_FAILURE_SEC. Nothing else resets it: the process holds one model for its life."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[ModelSettings, EmbeddingModel] = {}
        self._failed: dict[ModelSettings, tuple[float, ModelUnavailable]] = {}

    def get(self, config: ModelSettings) -> EmbeddingModel:
        model = self._loaded.get(config)
        if model is not None:
            return model
        with self._lock:
            if config in self._loaded:
                return self._loaded[config]
            if config in self._failed:
                failed_at, failure = self._failed[config]
                if time.monotonic() - failed_at < RETRY_AFTER_FAILURE_SEC:
                    raise failure
            try:
                model = load_model(config)
            except ModelUnavailable as error:
                logger.warning("The embedding model is not available: %s", error)
                self._failed[config] = (time.monotonic(), error)
                raise
            # One model per process: a settings change replaces the old one.
            self._loaded = {config: model}
            self._failed.clear()
            return model

    def status(self, config: ModelSettings) -> tuple[str, str]:
        if config in self._loaded:
            return "ready", f"{config.source} ({self._loaded[config].dimension} dimensions)"
        if config in self._failed:
            return "unavailable", str(self._failed[config][1])
        return "not_loaded", f"{config.source} loads on first use"


model_cache = ModelCache()


def get_model(*, source: str | None = None) -> EmbeddingModel:
    """The configured model, or the one that made `source`'s vectors (a local one with the
    configured device and dtype)."""
    config = embeddings_settings().model
    if source is not None:
        config = config.for_source(source)
    return model_cache.get(config)


def load_model(config: ModelSettings) -> EmbeddingModel:
    if config.backend == "remote":
        from embeddings.engine.remote import load_remote_model

        return load_remote_model(config)
    if config.backend == "twelvelabs":
        from embeddings.engine.hosted import load_hosted_model

        return load_hosted_model(config)
    local_files_only = Path(config.source).is_dir() or not hub_reachable()
    model_type = _model_type(config.source, local_files_only=local_files_only)
    if model_type not in FAMILIES:
        raise ModelUnavailable(
            f"The model {config.source!r} is of type {model_type!r}, which this server cannot run; "
            f"supported types: {', '.join(sorted(FAMILIES))}. Set EMBEDDINGS_MODEL to such a model."
        )
    factory: ModelFactory = import_string(FAMILIES[model_type])
    try:
        return factory(config, local_files_only)
    except ModelUnavailable:
        raise
    except ValueError as error:
        raise ModelUnavailable(f"Cannot load {config.source!r}: {error}") from error
    except (OSError, RuntimeError) as error:
        raise ModelUnavailable(_how_to_fix(config.source, error)) from error


def hub_reachable() -> bool:
    """Whether the Hugging Face hub answers at all (any HTTP answer), asked once, briefly."""
    from huggingface_hub import constants

    try:
        httpx.head(constants.ENDPOINT, timeout=HUB_PROBE_TIMEOUT_SEC)
    except httpx.HTTPError:
        return False
    return True


def _model_type(source: str, *, local_files_only: bool) -> str:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local_files_only)
        return str(config.model_type)
    except (OSError, ValueError) as error:
        raise ModelUnavailable(_how_to_fix(source, error)) from error


def _how_to_fix(source: str, error: BaseException) -> str:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"The embedding model {source!r} could not be loaded ({reason}). "
        "On a machine that can reach the Hugging Face hub, run `python manage.py download_model` "
        "(set HF_TOKEN if the hub asks you to log in and accept the licence); on an offline "
        "machine, copy the model directory over and set EMBEDDINGS_MODEL to its path."
    )


def model_status() -> tuple[str, str]:
    """("ready" | "unavailable" | "not_loaded", detail) without loading anything."""
    return model_cache.status(embeddings_settings().model)


def warm_up() -> None:
    """Load the configured model and run one input of each modality through it, so that the
    first request of each kind is fast.

    A model that cannot load is logged, not raised: the process still serves pages and says so.
    """
    from PIL import Image

    started = time.monotonic()
    try:
        model = get_model()
    except ModelUnavailable:
        return  # get_model logged why
    if embeddings_settings().model.backend == "twelvelabs":
        return  # nothing here to warm; the hosted API bills each input
    model.embed_texts(["warm-up"])
    if "image" in model.modalities:
        photo_shaped = Image.new("RGB", (640, 480), (128, 128, 128))
        model.embed_images([photo_shaped], image_tokens=embeddings_settings().model.image_tokens)
    if "audio" in model.modalities:
        second = np.arange(model.sampling_rate, dtype=np.float32) / model.sampling_rate
        model.embed_audio([0.1 * np.sin(2 * np.pi * 440.0 * second)])
    logger.info("Embedding model ready in %.1f s", time.monotonic() - started)
