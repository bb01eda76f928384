from __future__ import annotations

from typing import Any

from embeddings.api.v2_request import (
    INPUT_TYPES,
    MAX_MEDIA_SOURCES,
    MAX_SEGMENT_SEC,
    MIN_SEGMENT_SEC,
)
from embeddings.conf import embeddings_settings

Schema = dict[str, Any]


def _object(properties: Schema, *, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required), **extra}


def _list(*values: str, default: tuple[str, ...], description: str = "") -> Schema:
    schema: Schema = {
        "type": "array",
        "items": {"type": "string", "enum": list(values)},
        "default": list(default),
    }
    return schema | ({"description": description} if description else {})


SOURCE = {
    "url": {"type": "string", "format": "uri", "description": "Fetched like the v1 *_url fields."},
    "base64_string": {"type": "string", "format": "byte"},
    "asset_id": {
        "type": "string",
        "description": "Refused (400): this server keeps no uploaded assets.",
    },
}
MEDIA_SOURCE = _object(SOURCE, description="Exactly one of url, base64_string, asset_id.")
TRANSCRIPTION = (
    "transcription needs a speech recogniser; none is configured, so it is refused (400)."
)
ASSET = (
    "asset: one embedding for the whole part embedded, the L2-normalised mean of its clip "
    "embeddings (per option)."
)


def _timed(*options: str, default: tuple[str, ...], limit_sec: float) -> Schema:
    return _object(
        {
            "media_source": MEDIA_SOURCE,
            "start_sec": {"type": "number", "minimum": 0, "default": 0},
            "end_sec": {
                "type": "number",
                "description": f"Greater than start_sec; at most {limit_sec:g} s after it. Without"
                f" it, the part from start_sec must end within {limit_sec:g} s.",
            },
            "segmentation": _object(
                {
                    "strategy": {
                        "type": "string",
                        "enum": ["fixed"],
                        "description": "dynamic (scene boundaries) is refused.",
                    },
                    "fixed": _object(
                        {
                            "duration_sec": {
                                "type": "integer",
                                "minimum": MIN_SEGMENT_SEC,
                                "maximum": MAX_SEGMENT_SEC,
                            }
                        },
                        required=("duration_sec",),
                    ),
                },
                required=("strategy",),
                description="Segments of exactly duration_sec from start_sec, the last one "
                "shorter; without it, EMBEDDINGS_AUDIO_SEGMENT_SEC.",
            ),
            "embedding_option": _list(
                *options, "transcription", default=default, description=TRANSCRIPTION
            ),
            "embedding_scope": _list("clip", "asset", default=("clip", "asset"), description=ASSET),
            "embedding_type": _list(
                "separate_embedding",
                "fused_embedding",
                default=("separate_embedding",),
                description="fused_embedding needs two or more embedding_option values.",
            ),
        },
        required=("media_source",),
    )


def embed_v2_request_schema() -> Schema:
    config = embeddings_settings()
    text = {"type": "string", "description": f"At most {config.text_max_tokens} tokens."}
    return _object(
        {
            "input_type": {"type": "string", "enum": list(INPUT_TYPES)},
            "model_name": {"type": "string", "enum": list(config.accepted_model_names)},
            "auto_truncate": {
                "type": "boolean",
                "default": True,
                "description": "Text over the token limit: cut at the end (true) or refused.",
            },
            "embedding_uncertainty": {
                "type": "boolean",
                "description": "true is refused (400): the model gives no uncertainty.",
            },
            "embedding_dimension": {
                "type": "integer",
                "description": "Only the model's own dimension; it declares no Matryoshka sizes.",
            },
            "text": _object({"input_text": text}, required=("input_text",)),
            "image": _object({"media_source": MEDIA_SOURCE}, required=("media_source",)),
            "text_image": _object(
                {"media_source": MEDIA_SOURCE, "input_text": text},
                required=("media_source", "input_text"),
                description="The image, then the words, composed into one vector.",
            ),
            "audio": _timed(
                "audio", default=("audio",), limit_sec=config.sync_audio_max_duration_sec
            ),
            "video": _timed(
                "visual",
                "audio",
                default=("visual", "audio"),
                limit_sec=config.sync_video_max_duration_sec,
            ),
            "multi_input": _object(
                {
                    "input_text": text | {"description": "<@name> places a named source."},
                    "media_sources": {
                        "type": "array",
                        "maxItems": MAX_MEDIA_SOURCES,
                        "items": _object(
                            {
                                "name": {"type": "string"},
                                "media_type": {"type": "string", "enum": ["image"]},
                                **SOURCE,
                            },
                            required=("media_type",),
                        ),
                    },
                },
                description="Images and words composed into one vector: unnamed sources first, "
                "in order, then the words with each named source where it is named.",
            ),
        },
        required=("input_type", "model_name"),
    )


EMBEDDING_DATA = _object(
    {
        "embedding": {"type": "array", "items": {"type": "number"}},
        "embedding_option": {
            "type": "string",
            "nullable": True,
            "enum": ["visual", "audio", "fused"],
        },
        "embedding_scope": {"type": "string", "nullable": True, "enum": ["clip", "asset"]},
        "start_sec": {"type": "number", "nullable": True},
        "end_sec": {"type": "number", "nullable": True},
    },
    required=("embedding",),
)
EMBED_V2_RESPONSE = _object(
    {
        "data": {"type": "array", "items": EMBEDDING_DATA},
        "usage": _object(
            {
                "input_tokens": {"type": "object", "additionalProperties": {"type": "integer"}},
                "truncated": {"type": "boolean"},
                "truncation_reason": {"type": "string", "enum": ["model_context_window"]},
            }
        ),
        "metadata": {"type": "object", "description": "input_type and what was embedded."},
    },
    required=("data",),
)


def embed_v2_operation(*, errors: dict[str, Schema]) -> Schema:
    return {
        "operationId": "createEmbeddingsV2",
        "summary": "Create one or more embeddings for one input (TwelveLabs' Embed API v2)",
        "tags": ["Embed"],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": embed_v2_request_schema()}},
        },
        "responses": {
            "200": {
                "description": "The embeddings: one for text, image, text_image and multi_input;"
                " per clip and option, then per option for the asset, for audio and video.",
                "content": {"application/json": {"schema": EMBED_V2_RESPONSE}},
            },
            **errors,
            "413": {
                **errors["413"],
                "description": "A file or the request is too large; the body also holds "
                '`"error": {"code", "message"}`, the shape TwelveLabs\' SDKs read a 413 in.',
            },
        },
    }
