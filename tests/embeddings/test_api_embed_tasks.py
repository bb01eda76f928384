from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from bench.media_factory import make_audio
from bench.video_factory import make_video
from embeddings.engine.base import EmbeddingModel
from embeddings.keys import api_key_create
from embeddings.models import EmbedTask, EmbedTaskSegment
from embeddings.task_services import embed_tasks_purge, embed_tasks_requeue_lost

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "marengo3.0"
V1_TASKS = "/v1.3/embed/tasks"
V2_TASKS = "/v1.3/embed-v2/tasks"


@pytest.fixture
def queued(settings) -> None:  # type: ignore[no-untyped-def]
    """Tasks wait in django-tasks-db's queue, as in production, until `run_worker`."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def run_worker() -> None:
    """The project's task backend's own worker, until the queue is empty."""
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)


def audio_task(
    client: Client, audio: bytes | None = None, *, url: str | None = None, **fields: Any
) -> Any:
    source = {"url": url} if url else {"base64_string": base64.b64encode(audio or b"").decode()}
    body = {"input_type": "audio", "model_name": MODEL, "audio": {"media_source": source, **fields}}
    return client.post(V2_TASKS, json.dumps(body), content_type="application/json")


def retrieve(client: Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"{V2_TASKS}/{task_id}")
    assert response.status_code == 200, response.json()
    return response.json()


def stored_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def test_an_audio_task_is_processing_until_a_worker_runs_it_then_ready_with_its_vectors(
    api_client: Client, queued: None, model: EmbeddingModel, settings
) -> None:  # type: ignore[no-untyped-def]
    created = audio_task(
        api_client,
        make_audio("flac", seconds=12.0),
        segmentation={"strategy": "fixed", "fixed": {"duration_sec": 4}},
    )
    assert created.status_code == 200, created.json()
    task_id = created.json()["_id"]
    assert created.json()["status"] == "processing"
    assert retrieve(api_client, task_id)["status"] == "processing"
    assert retrieve(api_client, task_id)["data"] is None
    assert len(stored_files(settings)) == 1

    run_worker()

    body = retrieve(api_client, task_id)
    assert body["status"] == "ready"
    clips = [entry for entry in body["data"] if entry["embedding_scope"] == "clip"]
    (asset,) = [entry for entry in body["data"] if entry["embedding_scope"] == "asset"]
    assert [(c["start_sec"], c["end_sec"]) for c in clips] == [(0, 4), (4, 8), (8, 12)]
    assert {entry["embedding_option"] for entry in body["data"]} == {"audio"}
    for entry in body["data"]:
        vector = np.asarray(entry["embedding"])
        assert vector.shape == (model.dimension,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    mean = np.mean([c["embedding"] for c in clips], axis=0)
    np.testing.assert_allclose(asset["embedding"], mean / np.linalg.norm(mean), atol=1e-5)
    assert (asset["start_sec"], asset["end_sec"]) == (0, 12)
    assert body["metadata"]["input_type"] == "audio"
    assert body["metadata"]["duration"] == pytest.approx(12.0, abs=0.05)
    assert stored_files(settings) == []  # the media goes once the task ends


def test_an_audio_task_from_a_url_is_fetched_by_the_worker(
    api_client: Client, file_server, settings
) -> None:  # type: ignore[no-untyped-def]
    base, files = file_server
    files["/gulls.flac"] = make_audio("flac", seconds=3.0)
    settings.EMBEDDINGS_URL_ALLOWLIST = ["127.0.0.1"]

    task_id = audio_task(api_client, url=f"{base}/gulls.flac").json()["_id"]

    body = retrieve(api_client, task_id)
    assert body["status"] == "ready"
    assert body["metadata"]["input_url"] == f"{base}/gulls.flac"
    assert [entry["embedding_scope"] for entry in body["data"]] == ["clip", "asset"]


def test_a_url_the_fetch_refuses_fails_the_task_with_the_reason(api_client: Client) -> None:
    task_id = audio_task(api_client, url="http://127.0.0.1:9/secret.wav").json()["_id"]

    body = retrieve(api_client, task_id)
    assert body["status"] == "failed"
    assert "loopback" in body["error"]["message"]


def test_a_file_that_is_not_audio_fails_the_task_with_the_reason_and_leaves_no_file(
    api_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    task_id = audio_task(api_client, b"this is no sound at all" * 100).json()["_id"]

    body = retrieve(api_client, task_id)
    assert body["status"] == "failed"
    assert body["data"] is None
    assert "audio" in body["error"]["message"]
    assert stored_files(settings) == []


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"embedding_option": ["transcription"]}, "parameter_invalid", "speech recogniser"),
        ({"embedding_option": ["visual"]}, "parameter_invalid", "embedding_option"),
        ({"embedding_scope": ["page"]}, "parameter_invalid", "embedding_scope"),
        ({"segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 11}}}, None, "2 to 10"),
        ({"segmentation": {"strategy": "dynamic", "dynamic": {}}}, None, "use fixed"),
        ({"start_sec": 5, "end_sec": 3}, "parameter_invalid", "greater than"),
        ({"start_sec": -1}, "parameter_invalid", "0 or more"),
        ({"embedding_type": ["fused_embedding"]}, "parameter_invalid", "two or more"),
        ({"language": "en"}, "parameter_unknown", "language"),
    ],
)
def test_bad_v2_task_requests_are_refused_before_anything_is_stored(
    api_client: Client, fields: dict[str, Any], code: str | None, words: str
) -> None:
    response = audio_task(api_client, make_audio("wav", seconds=1.0), **fields)

    assert response.status_code == 400
    assert response.json()["code"] == (code or "parameter_invalid")
    assert words in response.json()["message"]
    assert not EmbedTask.objects.exists()


def test_v2_tasks_take_only_audio_and_video_as_json(api_client: Client) -> None:
    image = api_client.post(
        V2_TASKS,
        json.dumps({"input_type": "image", "model_name": MODEL, "image": {}}),
        content_type="application/json",
    )
    form = api_client.post(V2_TASKS, {"input_type": "audio"})

    assert image.status_code == 400 and "audio or video" in image.json()["message"]
    assert form.status_code == 400 and "application/json" in form.json()["message"]


def test_base64_over_the_upload_limit_is_refused_by_its_length(
    api_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MAX_UPLOAD_BYTES = 1000

    response = audio_task(api_client, bytes(1200))

    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"


def test_a_key_sees_only_its_own_tasks(api_client: Client) -> None:
    task_id = audio_task(api_client, make_audio("wav", seconds=1.0)).json()["_id"]
    other = Client(headers={"x-api-key": api_key_create(name="other")[1]})

    assert other.get(f"{V2_TASKS}/{task_id}").status_code == 404
    assert other.get(f"{V2_TASKS}/{task_id}").json()["code"] == "resource_not_exists"
    assert other.get(V2_TASKS).json()["data"] == []
    assert api_client.get(f"{V1_TASKS}/{task_id}/status").status_code == 404  # a v2 task
    assert Client().get(f"{V2_TASKS}/{task_id}").status_code == 401


def test_without_keys_required_keyless_clients_share_their_tasks(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_REQUIRE_API_KEY = False
    task_id = audio_task(Client(), make_audio("wav", seconds=1.0)).json()["_id"]

    assert retrieve(Client(), task_id)["status"] == "ready"


def test_list_filters_take_any_rfc_3339_offset(api_client: Client) -> None:
    response = api_client.get(V2_TASKS, {"ended_at": "1076-09-19T05:12:11.8+16:07"})

    assert response.status_code == 200
    assert response.json()["data"] == []


def test_the_list_pages_newest_first_with_filters_and_an_empty_page_past_the_end(
    api_client: Client,
) -> None:
    ids = [audio_task(api_client, make_audio("wav", seconds=1.0)).json()["_id"] for _ in range(3)]
    failed = audio_task(api_client, b"not audio").json()["_id"]
    EmbedTask.objects.filter(pk=ids[0]).update(created_at=timezone.now() - timedelta(days=2))

    first = api_client.get(V2_TASKS, {"page_limit": 2}).json()
    second = api_client.get(V2_TASKS, {"page_limit": 2, "page": 2}).json()
    past = api_client.get(V2_TASKS, {"page_limit": 2, "page": 3}).json()
    failures = api_client.get(V2_TASKS, {"status": "failed"}).json()
    recent = api_client.get(
        V2_TASKS, {"started_at": (timezone.now() - timedelta(days=1)).isoformat()}
    ).json()

    assert [task["_id"] for task in first["data"] + second["data"]] == [failed, *ids[:0:-1], ids[0]]
    assert first["page_info"] == {
        "limit_per_page": 2,
        "page": 1,
        "total_page": 2,
        "total_results": 4,
    }
    assert past["data"] == []
    assert [task["_id"] for task in failures["data"]] == [failed]
    assert ids[0] not in [task["_id"] for task in recent["data"]]
    assert len(recent["data"]) == 3
    listed = first["data"][1]
    assert listed["status"] == "ready"
    assert listed["audio_embedding"]["metadata"]["audio_embedding_option"] == ["audio"]
    assert api_client.get(V1_TASKS).json()["data"] == []  # v2 tasks are not v1 tasks


@pytest.mark.parametrize(
    "query",
    [
        {"page_limit": "51"},
        {"page": "0"},
        {"status": "done"},
        {"started_at": "yesterday"},
        {"ended_at": "2026-12-02T10:00:00"},
        {"ended_at": "0001-01-01T00:00:00+05:00"},
    ],
)
def test_bad_list_parameters_are_refused(api_client: Client, query: dict[str, str]) -> None:
    response = api_client.get(V2_TASKS, query)

    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"


def test_unfinished_tasks_per_key_are_bounded(api_client: Client, queued: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_TASKS_IN_FLIGHT_PER_KEY = 2
    for _ in range(2):
        assert audio_task(api_client, make_audio("wav", seconds=1.0)).status_code == 200

    refused = audio_task(api_client, make_audio("wav", seconds=1.0))
    other = Client(headers={"x-api-key": api_key_create(name="other")[1]})

    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_requests"
    assert "Retry-After" in refused.headers
    assert audio_task(other, make_audio("wav", seconds=1.0)).status_code == 200
    run_worker()
    assert audio_task(api_client, make_audio("wav", seconds=1.0)).status_code == 200


def test_expired_tasks_are_gone_at_once_and_the_purge_deletes_them_with_their_files(
    api_client: Client, queued: None, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_TASK_RETENTION_DAYS = 7
    old, kept = (
        audio_task(api_client, make_audio("wav", seconds=1.0)).json()["_id"] for _ in range(2)
    )
    EmbedTask.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(days=7, hours=1))
    assert len(stored_files(settings)) == 2

    assert api_client.get(f"{V2_TASKS}/{old}").status_code == 404
    assert [task["_id"] for task in api_client.get(V2_TASKS).json()["data"]] == [kept]

    assert embed_tasks_purge() == 1
    assert list(EmbedTask.objects.values_list("pk", flat=True)) == [kept]
    assert len(stored_files(settings)) == 1
    run_worker()
    assert not EmbedTaskSegment.objects.filter(task_id=old).exists()
    assert retrieve(api_client, kept)["status"] == "ready"


def test_the_purge_command_deletes_expired_tasks(api_client: Client) -> None:
    task_id = audio_task(api_client, make_audio("wav", seconds=1.0)).json()["_id"]
    EmbedTask.objects.filter(pk=task_id).update(created_at=timezone.now() - timedelta(days=8))

    call_command("purge_embed_tasks", verbosity=0)

    assert not EmbedTask.objects.exists()
    assert not EmbedTaskSegment.objects.exists()


def test_a_task_whose_worker_stopped_is_run_again_by_the_sweep(
    api_client: Client, queued: None
) -> None:
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    task_id = audio_task(api_client, make_audio("wav", seconds=1.0)).json()["_id"]
    # As a worker killed mid-run leaves it: its job running, its hold last renewed long ago.
    long_ago = timezone.now() - timedelta(minutes=5)
    DBTaskResult.objects.update(status=TaskResultStatus.RUNNING, started_at=long_ago)
    EmbedTask.objects.filter(pk=task_id).update(heartbeat_at=long_ago)

    assert embed_tasks_requeue_lost() == 1
    run_worker()

    task = EmbedTask.objects.get(pk=task_id)
    assert (task.status, task.lost_jobs) == ("ready", 1)


def test_a_task_whose_runs_keep_losing_their_worker_fails_with_the_reason(
    api_client: Client, queued: None
) -> None:
    task_id = audio_task(api_client, make_audio("wav", seconds=1.0)).json()["_id"]
    EmbedTask.objects.filter(pk=task_id).update(
        heartbeat_at=timezone.now() - timedelta(minutes=5), lost_jobs=2
    )

    assert embed_tasks_requeue_lost() == 0

    body = retrieve(api_client, task_id)
    assert body["status"] == "failed"
    assert "worker stopped 3 times" in body["error"]["message"]


def test_a_task_left_unqueued_is_queued_by_the_sweep_and_a_queued_one_is_not(
    api_client: Client, queued: None
) -> None:
    from django_tasks_db.models import DBTaskResult

    task_id = audio_task(api_client, make_audio("wav", seconds=1.0)).json()["_id"]
    EmbedTask.objects.filter(pk=task_id).update(updated_at=timezone.now() - timedelta(minutes=5))

    assert embed_tasks_requeue_lost() == 0
    DBTaskResult.objects.all().delete()  # as if queueing had failed after the commit
    assert embed_tasks_requeue_lost() == 1
    run_worker()
    assert retrieve(api_client, task_id)["status"] == "ready"


# Embed API v1 tasks: video.


def v1_task(client: Client, **fields: Any) -> Any:
    return client.post(V1_TASKS, {"model_name": MODEL, **fields})


def v1_status(client: Client, task_id: str, version: str = "v1.3") -> dict[str, Any]:
    response = client.get(f"/{version}/embed/tasks/{task_id}/status")
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_video_task_from_a_file_goes_from_processing_to_ready_with_clip_and_video_vectors(
    api_client: Client, queued: None, model: EmbeddingModel, settings
) -> None:  # type: ignore[no-untyped-def]
    video = SimpleUploadedFile("beach.mp4", make_video("mp4", seconds=5.0))
    created = v1_task(
        api_client, video_file=video, video_clip_length="2", video_embedding_scope=["clip", "video"]
    )
    assert created.status_code == 200, created.json()
    task_id = created.json()["_id"]
    assert v1_status(api_client, task_id)["status"] == "processing"

    run_worker()

    status = v1_status(api_client, task_id)
    assert status["status"] == "ready"
    metadata = status["video_embedding"]["metadata"]
    assert metadata["input_filename"] == "beach.mp4"
    assert metadata["video_clip_length"] == 2
    assert metadata["video_embedding_scope"] == ["clip", "video"]
    assert metadata["duration"] == pytest.approx(5.0, abs=0.1)
    segments = api_client.get(f"{V1_TASKS}/{task_id}").json()["video_embedding"]["segments"]
    clips = [s for s in segments if s["embedding_scope"] == "clip"]
    assert [
        (s["start_offset_sec"], s["end_offset_sec"])
        for s in clips
        if s["embedding_option"] == "visual"
    ] == [
        (0, 2),
        (2, 4),
        (4, 5),
    ]
    assert {(s["embedding_option"], s["embedding_scope"]) for s in segments} == {
        ("visual", "clip"),
        ("audio", "clip"),
        ("visual", "video"),
        ("audio", "video"),
    }
    for segment in segments:
        assert np.linalg.norm(segment["float"]) == pytest.approx(1.0, abs=1e-5)
        assert len(segment["float"]) == model.dimension
    visual = api_client.get(f"{V1_TASKS}/{task_id}", {"embedding_option": "visual"}).json()
    assert {s["embedding_option"] for s in visual["video_embedding"]["segments"]} == {"visual"}
    assert stored_files(settings) == []


def test_a_video_task_from_a_url_with_offsets(api_client: Client, file_server, settings) -> None:  # type: ignore[no-untyped-def]
    base, files = file_server
    files["/clip.mkv"] = make_video("mkv", seconds=6.0, audio=False)
    settings.EMBEDDINGS_URL_ALLOWLIST = ["127.0.0.1"]

    task_id = v1_task(
        api_client,
        video_url=f"{base}/clip.mkv",
        video_start_offset_sec="1",
        video_end_offset_sec="5",
        video_clip_length="2",
    ).json()["_id"]

    body = api_client.get(f"{V1_TASKS}/{task_id}").json()
    assert body["status"] == "ready"
    assert body["video_embedding"]["metadata"]["input_url"] == f"{base}/clip.mkv"
    segments = body["video_embedding"]["segments"]
    assert [(s["start_offset_sec"], s["end_offset_sec"]) for s in segments] == [(1, 3), (3, 5)]
    assert {s["embedding_option"] for s in segments} == {"visual"}  # no audio track


def test_a_file_that_is_not_a_video_fails_its_task_with_the_reason(api_client: Client) -> None:
    video = SimpleUploadedFile("broken.mp4", b"\x00\x00\x00\x18ftypmp42 not really a video")

    task_id = v1_task(api_client, video_file=video).json()["_id"]

    status = v1_status(api_client, task_id)
    assert status["status"] == "failed"
    assert "video" in status["error_message"]
    body = api_client.get(f"{V1_TASKS}/{task_id}").json()
    assert "segments" not in body["video_embedding"]


def test_a_v2_video_task_with_fused_vectors(api_client: Client, model: EmbeddingModel) -> None:
    body = {
        "input_type": "video",
        "model_name": MODEL,
        "video": {
            "media_source": {"base64_string": base64.b64encode(make_video(seconds=4.0)).decode()},
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 2}},
            "embedding_scope": ["clip"],
            "embedding_type": ["separate_embedding", "fused_embedding"],
        },
    }
    task_id = api_client.post(V2_TASKS, json.dumps(body), content_type="application/json").json()[
        "_id"
    ]

    result = retrieve(api_client, task_id)
    assert result["status"] == "ready"
    assert sorted({entry["embedding_option"] for entry in result["data"]}) == [
        "audio",
        "fused",
        "visual",
    ]
    assert len(result["data"]) == 6
    assert result["metadata"]["clip_length"] == 2
    listed = api_client.get(V2_TASKS).json()["data"][0]
    assert listed["video_embedding"]["metadata"]["video_embedding_option"] == [
        "visual",
        "audio",
        "fused",
    ]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"video_clip_length": "1"}, "from 2 to 10"),
        ({"video_clip_length": "11"}, "from 2 to 10"),
        ({"video_start_offset_sec": "-2"}, ">= 0"),
        ({"video_start_offset_sec": "4", "video_end_offset_sec": "2"}, "greater than"),
        ({"video_start_offset_sec": "0", "video_end_offset_sec": "3"}, "shorter than one clip"),
        ({"video_embedding_scope": "scene"}, "clip or video"),
        ({"video_url": "ftp://example.com/a.mp4"}, "http or https"),
    ],
)
def test_bad_v1_task_requests_are_refused(
    api_client: Client, fields: dict[str, str], words: str
) -> None:
    fields.setdefault("video_url", "https://example.com/a.mp4")

    response = v1_task(api_client, **fields)

    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"
    assert words in response.json()["message"]


def test_a_v1_task_needs_exactly_one_video_source(api_client: Client) -> None:
    video = SimpleUploadedFile("a.mp4", b"....")

    missing = v1_task(api_client)
    both = v1_task(api_client, video_url="https://example.com/a.mp4", video_file=video)

    assert missing.status_code == 400 and missing.json()["code"] == "parameter_not_provided"
    assert both.status_code == 400 and "not both" in both.json()["message"]


def test_a_v1_video_over_the_upload_limit_is_refused(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_VIDEO_MAX_UPLOAD_BYTES = 1000

    response = v1_task(api_client, video_file=SimpleUploadedFile("a.mp4", bytes(1001)))

    assert response.status_code == 413
    assert not EmbedTask.objects.exists()


def test_retrieving_transcription_vectors_is_refused(api_client: Client, queued: None) -> None:
    task_id = v1_task(api_client, video_url="https://example.com/a.mp4").json()["_id"]

    response = api_client.get(f"{V1_TASKS}/{task_id}", {"embedding_option": "transcription"})

    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"
    assert "speech recogniser" in response.json()["message"]


def test_v1_tasks_answer_on_v1_2_as_on_v1_3(api_client: Client, queued: None) -> None:
    task_id = v1_task(api_client, video_url="https://example.com/a.mp4").json()["_id"]

    status = api_client.get(f"/v1.2/embed/tasks/{task_id}/status").json()

    assert status["status"] == "processing"
    assert status["video_embedding"]["metadata"]["input_url"] == "https://example.com/a.mp4"
    assert status["video_embedding"]["metadata"]["video_clip_length"] == 6
    assert status["video_embedding"]["metadata"]["video_embedding_scope"] == ["clip"]


def test_the_openapi_document_describes_every_task_endpoint_and_its_answers(
    api_client: Client, api_key: str
) -> None:
    import schemathesis
    from django.core.wsgi import get_wsgi_application

    schema = schemathesis.openapi.from_wsgi("/openapi.json", get_wsgi_application())
    operations = {result.ok().label for result in schema.get_all_operations()}
    task_id = audio_task(api_client, make_audio("wav", seconds=1.0)).json()["_id"]
    failed_id = audio_task(api_client, b"not audio").json()["_id"]

    for version in ("v1.2", "v1.3"):
        assert {
            f"GET /{version}/embed/tasks",
            f"POST /{version}/embed/tasks",
            f"GET /{version}/embed/tasks/{{task_id}}",
            f"GET /{version}/embed/tasks/{{task_id}}/status",
        } <= operations
    assert {
        "GET /v1.3/embed-v2/tasks",
        "POST /v1.3/embed-v2/tasks",
        "GET /v1.3/embed-v2/tasks/{task_id}",
    } <= operations
    retrieve_v2 = schema["/v1.3/embed-v2/tasks/{task_id}"]["GET"]
    for case_id in (task_id, failed_id, "missing"):
        case = retrieve_v2.Case(path_parameters={"task_id": case_id})
        case.call_and_validate(headers={"x-api-key": api_key})
    schema["/v1.3/embed-v2/tasks"]["GET"].Case().call_and_validate(headers={"x-api-key": api_key})


def test_tasks_are_listed_read_only_in_the_admin(api_client: Client, admin_client: Client) -> None:
    task_id = audio_task(api_client, make_audio("wav", seconds=1.0)).json()["_id"]

    listing = admin_client.get("/admin/embeddings/embedtask/")
    page = admin_client.get(f"/admin/embeddings/embedtask/{task_id}/change/")

    assert listing.status_code == 200 and task_id in listing.text
    assert page.status_code == 200 and 'name="_save"' not in page.text
    assert admin_client.get("/admin/embeddings/embedtask/add/").status_code == 403
    assert admin_client.post(f"/admin/embeddings/embedtask/{task_id}/delete/").status_code == 403
