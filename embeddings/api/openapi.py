from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embeddings.api.openapi_tasks import task_paths
from embeddings.api.v2_openapi import embed_v2_operation
from embeddings.conf import embeddings_settings
from embeddings.services import TEXT_TRUNCATE_CHOICES

ERROR_CODES = (
    "parameter_not_provided",
    "parameter_invalid",
    "parameter_unknown",
    "api_key_invalid",
    "too_many_requests",
    "file_too_large",
    "length_required",
    "model_unavailable",
    "method_not_allowed",
    "resource_not_exists",
    "resource_conflict",
)


# Host projects add their own paths to the one /openapi.json (searchapp: its library API).
DocumentExtension = Callable[[dict[str, Any]], None]
_extensions: list[DocumentExtension] = []


def extend_openapi_document(extension: DocumentExtension) -> None:
    """Have `extension` add paths and schemas to each /openapi.json; call from AppConfig.ready."""
    if extension not in _extensions:
        _extensions.append(extension)


def error_response_schema(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _embedding_result(*, audio: bool) -> dict[str, Any]:
    segment: dict[str, Any] = {
        "type": "object",
        "required": ["float"],
        "properties": {"float": {"type": "array", "items": {"type": "number"}}},
    }
    if audio:
        segment["required"] = ["float", "start_offset_sec", "end_offset_sec"]
        segment["properties"] |= {
            "start_offset_sec": {"type": "number"},
            "end_offset_sec": {"type": "number"},
        }
    return {
        "type": "object",
        "required": ["segments"],
        "properties": {
            "segments": {"type": "array", "items": segment},
            "metadata": {
                "type": "object",
                "properties": {
                    "input_url": {"type": "string"},
                    "input_filename": {"type": "string"},
                },
            },
            "error_message": {"type": "string"},
        },
    }


def _embed_operation(version: str) -> dict[str, Any]:
    config = embeddings_settings()
    form: dict[str, Any] = {
        "type": "object",
        "required": ["model_name"],
        "properties": {
            "model_name": {"type": "string", "enum": list(config.accepted_model_names)},
            "text": {"type": "string", "description": f"At most {config.text_max_tokens} tokens."},
            "text_truncate": {
                "type": "string",
                "enum": list(TEXT_TRUNCATE_CHOICES),
                "default": "end",
            },
            "image_url": {"type": "string", "format": "uri"},
            "image_file": {"type": "string", "format": "binary"},
            "audio_url": {"type": "string", "format": "uri"},
            "audio_file": {"type": "string", "format": "binary"},
            "audio_start_offset_sec": {"type": "number", "minimum": 0, "default": 0},
        },
    }
    url_form = {
        **form,
        "properties": {
            name: schema
            for name, schema in form["properties"].items()
            if not name.endswith("_file")
        },
    }
    return {
        "operationId": f"createEmbeddings_{version.replace('.', '_')}",
        "summary": "Create embeddings for text, image and audio in one shared space",
        "tags": ["Embed"],
        "security": _security(),
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": form},
                "application/x-www-form-urlencoded": {"schema": url_form},
            },
        },
        "responses": {
            "200": {
                "description": "Embeddings for each modality that was sent.",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/EmbeddingResponse"}
                    }
                },
            },
            **_error_responses(),
        },
    }


def _error_responses() -> dict[str, Any]:
    return {
        "400": error_response_schema(
            "A parameter is missing, unknown or invalid, or the media cannot be decoded."
        ),
        "401": error_response_schema("The x-api-key header is missing or wrong."),
        "411": error_response_schema(
            "A chunked body (no Content-Length) reached a server that cannot read it."
        ),
        "413": error_response_schema("A file or the request is too large."),
        "429": error_response_schema(
            "Too many requests with this key, or too many URL fetches running (with this key"
            " or on the server); see Retry-After."
        ),
        "503": error_response_schema(
            "The embedding model cannot be loaded; the message says how to fix it."
        ),
    }


def _security() -> list[dict[str, list[str]]]:
    return [{"ApiKey": []}] if embeddings_settings().require_api_key else []


def openapi_document(*, base_url: str) -> dict[str, Any]:
    document = _embed_api_document(base_url=base_url)
    for extension in _extensions:
        extension(document)
    return document


def _embed_api_document(*, base_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Any-to-any search API",
            "version": "1.0.0",
            "description": "A self-hosted, TwelveLabs-compatible Embed API (v1.2 and v1.3 paths; "
            "Embed API v2 on v1.3).",
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": {
            **{
                f"/{version}/embed": {"post": _embed_operation(version)}
                for version in ("v1.2", "v1.3")
            },
            "/v1.3/embed-v2": {
                "post": embed_v2_operation(errors=_error_responses()) | {"security": _security()}
            },
            **task_paths(config=embeddings_settings(), error=error_response_schema),
        },
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": list(ERROR_CODES)},
                        "message": {"type": "string"},
                        "docs_url": {"type": "string"},
                    },
                },
                "EmbeddingResponse": {
                    "type": "object",
                    "required": ["model_name"],
                    "properties": {
                        "model_name": {"type": "string"},
                        "text_embedding": _embedding_result(audio=False),
                        "image_embedding": _embedding_result(audio=False),
                        "audio_embedding": _embedding_result(audio=True),
                    },
                },
            },
        },
    }
