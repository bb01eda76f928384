from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embeddings.api.task_fields import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    TASK_INPUTS,
    TASK_STATUSES,
    V1_RETRIEVE_OPTIONS,
    V1_SCOPES,
)
from embeddings.api.v2_openapi import embed_v2_request_schema
from embeddings.api.v2_request import MAX_SEGMENT_SEC, MIN_SEGMENT_SEC
from embeddings.conf import EmbeddingsSettings

NUMBER = {"type": "number"}
STRINGS = {"type": "array", "items": {"type": "string"}}
STATUS = {"type": "string", "enum": list(TASK_STATUSES)}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_NUMBER = {"type": "number", "nullable": True}
SOURCE = {"input_url": {"type": "string"}, "input_filename": {"type": "string"}}
V1_METADATA = {
    "type": "object",
    "properties": {
        **SOURCE,
        "video_clip_length": NUMBER,
        "video_embedding_scope": STRINGS,
        "video_embedding_option": STRINGS,
        "duration": NUMBER,
    },
}
V1_TASK: dict[str, Any] = {
    "type": "object",
    "required": ["_id", "model_name", "status"],
    "properties": {
        "_id": {"type": "string"},
        "model_name": {"type": "string"},
        "status": STATUS,
        "created_at": TIME,
        "updated_at": TIME,
        "video_embedding": {"type": "object", "properties": {"metadata": V1_METADATA}},
        "error_message": {"type": "string", "description": "Why a failed task failed."},
    },
}
V1_SEGMENT = {
    "type": "object",
    "required": ["float", "start_offset_sec", "end_offset_sec", "embedding_option"],
    "properties": {
        "float": {"type": "array", "items": NUMBER},
        "start_offset_sec": NUMBER,
        "end_offset_sec": NUMBER,
        "embedding_option": {"type": "string", "enum": ["visual", "audio"]},
        "embedding_scope": {"type": "string", "enum": list(V1_SCOPES)},
    },
}
V2_LISTED_METADATA = {
    "type": "object",
    "properties": {
        **SOURCE,
        **{
            f"{kind}_embedding_{part}": STRINGS
            for kind in ("video", "audio")
            for part in ("option", "scope")
        },
        "video_clip_length": NUMBER,
        "start_offset_sec": NUMBER,
        "end_offset_sec": NULLABLE_NUMBER,
        "duration": NUMBER,
    },
}
V2_LISTED = {
    "type": "object",
    "required": ["_id", "model_name", "status"],
    "properties": {
        "_id": {"type": "string"},
        "model_name": {"type": "string"},
        "status": STATUS,
        "created_at": TIME,
        "updated_at": TIME,
        "video_embedding": {"type": "object", "properties": {"metadata": V2_LISTED_METADATA}},
        "audio_embedding": {"type": "object", "properties": {"metadata": V2_LISTED_METADATA}},
    },
}
V2_TASK = {
    "type": "object",
    "required": ["_id", "status", "data"],
    "properties": {
        "_id": {"type": "string"},
        "status": STATUS,
        "created_at": TIME,
        "updated_at": TIME,
        "data": {
            "type": "array",
            "nullable": True,
            "items": {
                "type": "object",
                "required": ["embedding", "embedding_option", "embedding_scope"],
                "properties": {
                    "embedding": {"type": "array", "items": NUMBER},
                    "embedding_option": {"type": "string", "enum": ["visual", "audio", "fused"]},
                    "embedding_scope": {"type": "string", "enum": ["clip", "asset"]},
                    "start_sec": NUMBER,
                    "end_sec": NUMBER,
                },
            },
        },
        "metadata": {
            "type": "object",
            "description": "Once the media was read.",
            "properties": {
                "input_type": {"type": "string", "enum": ["audio", "video"]},
                **SOURCE,
                "embedding_options": STRINGS,
                "embedding_scopes": STRINGS,
                "duration": NUMBER,
                "start_offset_sec": NUMBER,
                "end_offset_sec": NULLABLE_NUMBER,
                "clip_length": {"type": "integer"},
            },
        },
        "error": {
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}},
        },
    },
}
LIST_PARAMETERS = [
    {"name": "started_at", "in": "query", "schema": TIME, "description": "Created at or after."},
    {"name": "ended_at", "in": "query", "schema": TIME, "description": "Created at or before."},
    {"name": "status", "in": "query", "schema": STATUS},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "name": "page_limit",
        "in": "query",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PAGE_LIMIT,
            "default": DEFAULT_PAGE_LIMIT,
        },
    },
]
TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
CLIP_SEC = {"minimum": MIN_SEGMENT_SEC, "maximum": MAX_SEGMENT_SEC}
TRANSCRIPTION_NOTE = "transcription needs a speech recogniser and is refused (400)."


def task_paths(
    *, config: EmbeddingsSettings, error: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """The embedding tasks' paths; `error(description)` is the document's error response."""
    security: list[dict[str, list[str]]] = [{"ApiKey": []}] if config.require_api_key else []
    errors = {
        "400": error("A parameter is missing, unknown or invalid."),
        "401": error("The x-api-key header is missing or wrong."),
        "429": error("Too many requests, or too many unfinished tasks, with this key."),
    }
    too_large = {"413": error("The file is too large.")}
    missing = {"404": error("No such task for this key, or it expired.")}

    def operation(
        summary: str, body: dict[str, Any], *, refusals: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        return {
            "summary": summary,
            "tags": ["Embedding tasks"],
            "security": security,
            "responses": {
                "200": {"description": summary, "content": {"application/json": {"schema": body}}},
                **errors,
                **refusals,
            },
            **extra,
        }

    def listing(version: str, item: dict[str, Any]) -> dict[str, Any]:
        page_info = {
            "type": "object",
            "properties": {
                name: {"type": "integer"}
                for name in ("limit_per_page", "page", "total_page", "total_results")
            },
        }
        body = {
            "type": "object",
            "required": ["data", "page_info"],
            "properties": {"data": {"type": "array", "items": item}, "page_info": page_info},
        }
        return operation(
            "List this key's tasks, newest first (a page past the last is empty).",
            body,
            refusals={},
            operationId=f"listEmbeddingTasks_{version}",
            parameters=LIST_PARAMETERS,
        )

    paths: dict[str, Any] = {}
    for version in ("v1.2", "v1.3"):
        name = version.replace(".", "_")
        paths[f"/{version}/embed/tasks"] = {
            "post": operation(
                "Create a video embedding task (runs in the background).",
                {"type": "object", "required": ["_id"], "properties": {"_id": {"type": "string"}}},
                refusals=too_large,
                operationId=f"createVideoEmbeddingTask_{name}",
                requestBody=_v1_form(config),
            ),
            "get": listing(name, V1_TASK),
        }
        paths[f"/{version}/embed/tasks/{{task_id}}/status"] = {
            "get": operation(
                "A video embedding task's status.",
                V1_TASK,
                refusals=missing,
                operationId=f"videoEmbeddingTaskStatus_{name}",
                parameters=[TASK_ID],
            )
        }
        retrieve_body = {
            **V1_TASK,
            "properties": {
                **V1_TASK["properties"],
                "video_embedding": {
                    "type": "object",
                    "properties": {
                        "metadata": V1_METADATA,
                        "segments": {"type": "array", "items": V1_SEGMENT},
                    },
                },
            },
        }
        option = {"type": "string", "enum": [*V1_RETRIEVE_OPTIONS, "transcription"]}
        paths[f"/{version}/embed/tasks/{{task_id}}"] = {
            "get": operation(
                "A video embedding task with its vectors once ready.",
                retrieve_body,
                refusals=missing,
                operationId=f"retrieveVideoEmbeddingTask_{name}",
                parameters=[
                    TASK_ID,
                    {
                        "name": "embedding_option",
                        "in": "query",
                        "schema": {"type": "array", "items": option},
                        "style": "form",
                        "explode": True,
                        "description": f"Only these vectors (default: all). {TRANSCRIPTION_NOTE}",
                    },
                ],
            )
        }
    paths["/v1.3/embed-v2/tasks"] = {
        "post": operation(
            "Create an audio or video embedding task (Embed API v2; runs in the background).",
            {
                "type": "object",
                "required": ["_id", "status"],
                "properties": {
                    "_id": {"type": "string"},
                    "status": {"type": "string", "enum": ["processing"]},
                    "data": {"type": "array", "nullable": True, "items": {}},
                },
            },
            refusals=too_large,
            operationId="createEmbeddingTaskV2",
            requestBody={
                "required": True,
                "content": {"application/json": {"schema": _v2_body()}},
            },
        ),
        "get": listing("v2", V2_LISTED),
    }
    paths["/v1.3/embed-v2/tasks/{task_id}"] = {
        "get": operation(
            "An embedding task (v2) with its vectors once ready, or why it failed.",
            V2_TASK,
            refusals=missing,
            operationId="retrieveEmbeddingTaskV2",
            parameters=[TASK_ID],
        )
    }
    return paths


def _v1_form(config: EmbeddingsSettings) -> dict[str, Any]:
    form = {
        "type": "object",
        "required": ["model_name"],
        "properties": {
            "model_name": {"type": "string", "enum": list(config.accepted_model_names)},
            "video_file": {"type": "string", "format": "binary"},
            "video_url": {"type": "string", "format": "uri"},
            "video_start_offset_sec": {"type": "number", "minimum": 0, "default": 0},
            "video_end_offset_sec": {"type": "number", "minimum": 0},
            "video_clip_length": {"type": "number", **CLIP_SEC, "default": config.video_clip_sec},
            "video_embedding_scope": {
                "type": "array",
                "items": {"type": "string", "enum": list(V1_SCOPES)},
            },
        },
        "description": "Exactly one of video_file and video_url.",
    }
    return {"required": True, "content": {"multipart/form-data": {"schema": form}}}


def _v2_body() -> dict[str, Any]:
    """The synchronous /embed-v2's schema, for audio and video only, with no length limit but
    the server's (EMBEDDINGS_AUDIO_MAX_DURATION_SEC, EMBEDDINGS_VIDEO_MAX_DURATION_SEC)."""
    schema = embed_v2_request_schema()
    properties = {
        name: schema["properties"][name]
        for name in ("input_type", "model_name", "embedding_uncertainty", "embedding_dimension")
    }
    properties["input_type"] = {"type": "string", "enum": list(TASK_INPUTS)}
    for name in TASK_INPUTS:
        timed = schema["properties"][name]
        end_sec = {"type": "number", "description": "Greater than start_sec."}
        properties[name] = {**timed, "properties": {**timed["properties"], "end_sec": end_sec}}
    return {**schema, "properties": properties}
