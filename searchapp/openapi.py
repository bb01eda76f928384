from __future__ import annotations

from typing import Any

from embeddings.api.openapi import error_response_schema
from embeddings.conf import embeddings_settings
from searchapp.forms import DEFAULT_API_LIMIT, MAX_API_LIMIT, MAX_PAGE, MAX_QUERY_CHARACTERS
from searchapp.models import Modality, Status
from searchapp.search.library import MAX_EXCLUDED_ITEMS
from searchapp.services.items import MAX_DESCRIPTION_CHARACTERS, MAX_TEXT_CHARACTERS

ITEM = {
    "type": "object",
    "required": ["id", "modality", "status", "title"],
    "properties": {
        "id": {"type": "integer"},
        "modality": {"type": "string", "enum": list(Modality.values)},
        "status": {
            "type": "string",
            "enum": list(Status.values),
            "description": "waiting: the model could not be loaded; the item is embedded once "
            "it loads, with nothing to do on the caller's side.",
        },
        "error_message": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "original_filename": {"type": "string"},
        "mime_type": {"type": "string"},
        "size_bytes": {"type": "integer"},
        "width": {"type": "integer", "nullable": True},
        "height": {"type": "integer", "nullable": True},
        "duration_sec": {"type": "number", "nullable": True},
        "text": {"type": "string", "nullable": True},
        "media_url": {"type": "string", "nullable": True},
        "thumbnail_url": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
HIT = {
    "allOf": [
        {"$ref": "#/components/schemas/Item"},
        {
            "type": "object",
            "properties": {
                "score": {"type": "number", "nullable": True},
                "start_offset_sec": {"type": "number", "nullable": True},
                "end_offset_sec": {"type": "number", "nullable": True},
                "text_match": {"type": "boolean"},
            },
        },
    ]
}


SEARCH_DESCRIPTION = (
    "One query: `text`, or `image_file` / `audio_file`, or `item_id`.\n\n"
    '`text` together with `image_file` is a composed query ("this, but at night"): the '
    "model embeds the image and the words as one input, image first. The words also match "
    "titles, descriptions, tags and file names, and that ranking is fused with the vector "
    "ranking (reciprocal rank fusion), as for a text query. `text` with `audio_file` is a 400: "
    "words refine images only.\n\n"
    f"`exclude_item_ids` (at most {MAX_EXCLUDED_ITEMS}) moves the query away from those items: "
    "with q the query vector and n the mean of their vectors, the search runs with "
    "normalise(q - w * n), w = SEARCH_EXCLUDE_WEIGHT (0.5 unless set), and the scores are "
    "cosine similarities to that vector. They are never returned; hidden or unknown ids are "
    "ignored."
)


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _multipart(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: error_response_schema(f"Error {status}") for status in statuses}


def library_paths() -> dict[str, Any]:
    security: list[dict[str, list[str]]] = (
        [{"ApiKey": []}] if embeddings_settings().require_api_key else []
    )
    return {
        "/api/items": {
            "post": {
                "operationId": "addItem",
                "summary": "Add an image, audio file or text note to the library",
                "tags": ["Library"],
                "security": security,
                "requestBody": _multipart(
                    {
                        "file": {"type": "string", "format": "binary"},
                        "text": {"type": "string", "maxLength": MAX_TEXT_CHARACTERS},
                        "title": {"type": "string"},
                        "description": {"type": "string", "maxLength": MAX_DESCRIPTION_CHARACTERS},
                        "tags": {"type": "string", "description": "Comma-separated"},
                    }
                ),
                "responses": {
                    "201": _json(
                        {"$ref": "#/components/schemas/Item"}, "Added; embedding is queued."
                    ),
                    "200": _json({"$ref": "#/components/schemas/Item"}, "Already in the library."),
                    **_errors("400", "401", "411", "413", "429"),
                    "409": error_response_schema(
                        "Already in the library as an item that is hidden; nothing of it is told."
                    ),
                },
            }
        },
        "/api/items/{id}": {
            "get": {
                "operationId": "getItem",
                "summary": "An item with its processing status",
                "tags": ["Library"],
                "security": security,
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Item"}, "The item."),
                    **_errors("401", "404", "429"),
                },
            }
        },
        "/api/search": {
            "post": {
                "operationId": "searchLibrary",
                "summary": "Search the library by text, image, audio or item",
                "description": SEARCH_DESCRIPTION,
                "tags": ["Library"],
                "security": security,
                "requestBody": _multipart(
                    {
                        "text": {
                            "type": "string",
                            "maxLength": MAX_QUERY_CHARACTERS,
                            "description": "Words to search for; with image_file, words that "
                            "refine the image (see the description). Not with audio_file.",
                        },
                        "image_file": {"type": "string", "format": "binary"},
                        "audio_file": {"type": "string", "format": "binary"},
                        "item_id": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "Search by this item's vectors; a missing or hidden "
                            "item is a 404.",
                        },
                        "exclude_item_ids": {
                            "type": "array",
                            "items": {"type": "integer", "minimum": 1},
                            "maxItems": MAX_EXCLUDED_ITEMS,
                            "description": "Items to find less of: repeated or comma-separated "
                            "ids. The query moves away from them and they are never returned; "
                            "hidden or unknown ids are ignored.",
                        },
                        "modality": {"type": "string", "enum": list(Modality.values)},
                        "limit": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_API_LIMIT,
                            "default": DEFAULT_API_LIMIT,
                            "description": f"Results per answer; over {MAX_API_LIMIT} is a 400.",
                        },
                        "min_score": {
                            "type": "number",
                            "minimum": -1,
                            "maximum": 1,
                            "description": "Results less similar are left out (default: "
                            "SEARCH_MIN_SCORE).",
                        },
                        "tag": {
                            "type": "string",
                            "maxLength": 64,
                            "description": "Only items with this tag.",
                        },
                        "semantic": {
                            "type": "boolean",
                            "default": False,
                            "description": "Rank by the vectors alone: words do not also match "
                            "titles, descriptions, tags and file names.",
                        },
                        "page": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PAGE,
                            "default": 1,
                            "description": "Which `limit` results: page 2 follows page 1 while "
                            "has_more is true. page × limit is at most the search page's depth "
                            "(1000 pages of SEARCH_PAGE_SIZE).",
                        },
                    }
                ),
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["results", "page", "has_more"],
                            "properties": {
                                "results": {"type": "array", "items": HIT},
                                "page": {"type": "integer"},
                                "has_more": {"type": "boolean"},
                                "query_audio_seconds": {
                                    "type": "number",
                                    "nullable": True,
                                    "description": "Seconds of the query clip searched with: "
                                    "its start, up to SEARCH_QUERY_AUDIO_MAX_SEC.",
                                },
                                "warning": {"type": "string", "nullable": True},
                            },
                        },
                        "Ranked results from every modality.",
                    ),
                    **_errors("400", "401", "404", "411", "413", "429", "503"),
                },
            }
        },
    }


def add_library_api(document: dict[str, Any]) -> None:
    document["paths"] |= library_paths()
    document["components"]["schemas"]["Item"] = ITEM
