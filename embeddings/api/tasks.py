from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse

from embeddings.api.endpoint import api_endpoint, request_api_key
from embeddings.api.errors import ApiError
from embeddings.api.request import read_form
from embeddings.api.task_request import (
    parse_retrieve_options,
    parse_task_list,
    parse_v1_task_request,
    parse_v2_task_request,
)
from embeddings.conf import EmbeddingsSettings, embeddings_settings
from embeddings.models import EmbedTask
from embeddings.task_selectors import embed_task_get, embed_task_vectors, embed_tasks_page
from embeddings.task_services import (
    TaskApi,
    TaskRequest,
    TasksInFlightFull,
    embed_task_create,
)

# A slot frees when one of the key's tasks ends, which takes a while.
IN_FLIGHT_RETRY_AFTER_SEC = 30
# TwelveLabs' v1 scope name for the whole input.
V1_SCOPE_NAMES = {"clip": "clip", "asset": "video"}


@api_endpoint("GET", "POST")
def v1_tasks(request: HttpRequest) -> JsonResponse:
    config = embeddings_settings()
    if request.method == "POST":
        task_request = parse_v1_task_request(*read_form(request), config=config)
        return JsonResponse({"_id": _create(request, task_request, config=config).pk})
    return _page(request, api="v1", render=_v1_listed, config=config)


@api_endpoint("GET")
def v1_task_status(request: HttpRequest, task_id: str) -> JsonResponse:
    task = _task(request, task_id, api="v1")
    return JsonResponse(
        {
            "_id": task.pk,
            "model_name": task.model_name,
            "status": task.status,
            "video_embedding": {"metadata": _v1_metadata(task)},
            **_v1_error(task),
        }
    )


@api_endpoint("GET")
def v1_task(request: HttpRequest, task_id: str) -> JsonResponse:
    options = parse_retrieve_options(request.GET)
    task = _task(request, task_id, api="v1")
    video_embedding: dict[str, Any] = {"metadata": _v1_metadata(task)}
    if task.status == EmbedTask.Status.READY:
        video_embedding["segments"] = [
            {
                "float": vector.tolist(),
                "start_offset_sec": round(segment.start_sec, 3),
                "end_offset_sec": round(segment.end_sec, 3),
                "embedding_option": segment.option,
                "embedding_scope": V1_SCOPE_NAMES[segment.scope],
            }
            for segment, vector in embed_task_vectors(task, options=options)
        ]
    return JsonResponse({**_v1_listed(task), "video_embedding": video_embedding})


@api_endpoint("GET", "POST")
def v2_tasks(request: HttpRequest) -> JsonResponse:
    config = embeddings_settings()
    if request.method == "POST":
        task = _create(request, parse_v2_task_request(request, config=config), config=config)
        return JsonResponse({"_id": task.pk, "status": task.status, "data": None})
    return _page(request, api="v2", render=_v2_listed, config=config)


@api_endpoint("GET")
def v2_task(request: HttpRequest, task_id: str) -> JsonResponse:
    task = _task(request, task_id, api="v2")
    body: dict[str, Any] = {
        "_id": task.pk,
        "status": task.status,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "data": None,
    }
    if task.status == EmbedTask.Status.READY:
        body["data"] = [
            {
                "embedding": vector.tolist(),
                "embedding_option": segment.option,
                "embedding_scope": segment.scope,
                "start_sec": round(segment.start_sec, 3),
                "end_sec": round(segment.end_sec, 3),
            }
            for segment, vector in embed_task_vectors(task)
        ]
    if task.duration_sec is not None:
        body["metadata"] = _v2_metadata(task)
    if task.status == EmbedTask.Status.FAILED:
        body["error"] = {"message": task.error_message}
    return JsonResponse(body)


def _create(
    request: HttpRequest, task_request: TaskRequest, *, config: EmbeddingsSettings
) -> EmbedTask:
    try:
        return embed_task_create(
            request=task_request, api_key=request_api_key(request), config=config
        )
    except TasksInFlightFull as full:
        raise ApiError(
            status=429,
            code="too_many_requests",
            message=f"{full.limit} embedding tasks are already processing with this key; "
            "retry when one of them is ready or failed.",
            headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER_SEC)},
        ) from None


def _task(request: HttpRequest, task_id: str, *, api: TaskApi) -> EmbedTask:
    task = embed_task_get(
        task_id=task_id, api=api, api_key=request_api_key(request), config=embeddings_settings()
    )
    if task is None:
        raise ApiError(
            status=404,
            code="resource_not_exists",
            message=f"No embedding task {task_id!r}: it does not exist, belongs to another key, "
            "or has expired.",
        )
    return task


def _page(
    request: HttpRequest,
    *,
    api: TaskApi,
    render: Callable[[EmbedTask], dict[str, Any]],
    config: EmbeddingsSettings,
) -> JsonResponse:
    filters, page, page_limit = parse_task_list(request.GET)
    found = embed_tasks_page(
        api=api,
        api_key=request_api_key(request),
        filters=filters,
        page=page,
        page_limit=page_limit,
        config=config,
    )
    return JsonResponse(
        {
            "data": [render(task) for task in found.tasks],
            "page_info": {
                "limit_per_page": found.page_limit,
                "page": found.page,
                "total_page": found.total_pages,
                "total_results": found.total,
            },
        }
    )


def _v1_listed(task: EmbedTask) -> dict[str, Any]:
    return {
        "_id": task.pk,
        "model_name": task.model_name,
        "status": task.status,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "video_embedding": {"metadata": _v1_metadata(task)},
        **_v1_error(task),
    }


def _v1_metadata(task: EmbedTask) -> dict[str, Any]:
    return {
        **_source(task),
        "video_clip_length": task.clip_sec,
        "video_embedding_scope": [V1_SCOPE_NAMES[scope] for scope in task.scopes],
        "video_embedding_option": task.options,
        **({"duration": task.duration_sec} if task.duration_sec is not None else {}),
    }


def _v1_error(task: EmbedTask) -> dict[str, Any]:
    # Not in TwelveLabs' v1 responses, where a failed task says nothing of why.
    return {"error_message": task.error_message} if task.status == EmbedTask.Status.FAILED else {}


def _v2_listed(task: EmbedTask) -> dict[str, Any]:
    prefix = task.input_type  # video_embedding or audio_embedding, as TwelveLabs lists them
    metadata = {
        **_source(task),
        f"{prefix}_embedding_option": task.options,
        f"{prefix}_embedding_scope": task.scopes,
        "start_offset_sec": task.start_sec,
        "end_offset_sec": task.end_sec,
        **({"duration": task.duration_sec} if task.duration_sec is not None else {}),
    }
    if task.input_type == EmbedTask.InputType.VIDEO:
        metadata["video_clip_length"] = task.clip_sec
    return {
        "_id": task.pk,
        "model_name": task.model_name,
        "status": task.status,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        f"{prefix}_embedding": {"metadata": metadata},
    }


def _v2_metadata(task: EmbedTask) -> dict[str, Any]:
    metadata = {
        "input_type": task.input_type,
        **_source(task),
        "embedding_options": task.options,
        "embedding_scopes": task.scopes,
        "duration": task.duration_sec,
        "start_offset_sec": task.start_sec,
        "end_offset_sec": task.end_sec,
    }
    if task.input_type == EmbedTask.InputType.VIDEO:
        metadata["clip_length"] = round(task.clip_sec)
    return metadata


def _source(task: EmbedTask) -> dict[str, str]:
    if task.input_url:
        return {"input_url": task.input_url}
    return {"input_filename": task.input_filename} if task.input_filename else {}
