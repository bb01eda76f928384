from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from twelvelabs import TwelveLabs
from twelvelabs.errors import BadRequestError, NotFoundError
from twelvelabs.types import AsyncAudioInputRequest, AsyncVideoInputRequest, MediaSource

from bench.media_factory import make_audio
from bench.video_factory import make_video
from embeddings.keys import api_key_create
from tests.embeddings.test_api_embed_tasks import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "marengo3.0"


@pytest.fixture
def sdk(live_server, settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwelveLabs]:  # type: ignore[no-untyped-def]
    # Tasks wait in django-tasks-db's queue until the test runs its worker.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    monkeypatch.setenv("TWELVELABS_BASE_URL", f"{live_server.url}/v1.3")
    with httpx.Client(timeout=60) as http:
        yield TwelveLabs(api_key=api_key_create(name="sdk")[1], httpx_client=http)


def worker_on_first_poll(seen: list[str]):  # type: ignore[no-untyped-def]
    """A wait_for_done callback: the worker runs once the SDK has seen the task processing."""

    def callback(task) -> None:  # type: ignore[no-untyped-def]
        seen.append(task.status)
        if task.status == "processing":
            run_worker()

    return callback


def unit(values: list[float] | None) -> np.ndarray:
    assert values is not None
    vector = np.asarray(values)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    return vector


def test_sdk_embed_tasks_create_wait_retrieve_and_list(sdk: TwelveLabs, tmp_path: Path) -> None:
    video = tmp_path / "beach.mp4"
    video.write_bytes(make_video("mp4", seconds=4.0))
    with video.open("rb") as file:
        created = sdk.embed.tasks.create(
            model_name=MODEL,
            video_file=file,
            video_clip_length=2,
            video_embedding_scope=["clip", "video"],
        )
    seen: list[str] = []

    done = sdk.embed.tasks.wait_for_done(
        created.id, sleep_interval=0.1, callback=worker_on_first_poll(seen)
    )

    assert seen == ["processing", "ready"]
    assert done.status == "ready"
    assert done.video_embedding.metadata.input_filename == "beach.mp4"
    assert done.video_embedding.metadata.duration == pytest.approx(4.0, abs=0.1)
    retrieved = sdk.embed.tasks.retrieve(created.id, embedding_option=["visual"])
    segments = retrieved.video_embedding.segments
    assert [(s.embedding_scope, s.start_offset_sec) for s in segments] == [
        ("clip", 0),
        ("clip", 2),
        ("video", 0),
    ]
    assert {s.embedding_option for s in segments} == {"visual"}
    for segment in segments:
        unit(segment.float_)
    listed = list(sdk.embed.tasks.list(page_limit=1))
    assert [task.id for task in listed] == [created.id]
    assert listed[0].video_embedding.metadata.video_clip_length == 2


def test_sdk_embed_tasks_failures_and_refusals(sdk: TwelveLabs) -> None:
    created = sdk.embed.tasks.create(
        model_name=MODEL, video_file=("broken.mp4", b"not a video at all")
    )
    seen: list[str] = []

    done = sdk.embed.tasks.wait_for_done(
        created.id, sleep_interval=0.1, callback=worker_on_first_poll(seen)
    )

    assert done.status == "failed"
    with pytest.raises(BadRequestError) as refused:
        sdk.embed.tasks.retrieve(created.id, embedding_option=["transcription"])
    assert refused.value.body["code"] == "parameter_invalid"
    with pytest.raises(BadRequestError) as too_short:
        sdk.embed.tasks.create(
            model_name=MODEL, video_url="https://example.com/a.mp4", video_clip_length=1
        )
    assert "video_clip_length" in too_short.value.body["message"]


def test_sdk_embed_v2_tasks_for_audio_and_video(sdk: TwelveLabs) -> None:
    audio = base64.b64encode(make_audio("flac", seconds=6.0)).decode()
    video = base64.b64encode(make_video("mp4", seconds=4.0)).decode()

    audio_task = sdk.embed.v_2.tasks.create(
        input_type="audio",
        model_name=MODEL,
        audio=AsyncAudioInputRequest(
            media_source=MediaSource(base_64_string=audio),
            segmentation={"strategy": "fixed", "fixed": {"duration_sec": 3}},
        ),
    )
    video_task = sdk.embed.v_2.tasks.create(
        input_type="video",
        model_name=MODEL,
        video=AsyncVideoInputRequest(
            media_source=MediaSource(base_64_string=video),
            embedding_option=["visual"],
            embedding_scope=["asset"],
        ),
    )
    assert (audio_task.status, video_task.status) == ("processing", "processing")
    assert sdk.embed.v_2.tasks.retrieve(audio_task.id).data is None
    run_worker()

    audio_result = sdk.embed.v_2.tasks.retrieve(audio_task.id)
    video_result = sdk.embed.v_2.tasks.retrieve(video_task.id)
    assert audio_result.status == "ready"
    assert [(d.embedding_scope, d.start_sec, d.end_sec) for d in audio_result.data] == [
        ("clip", 0, 3),
        ("clip", 3, 6),
        ("asset", 0, 6),
    ]
    assert audio_result.metadata.input_type == "audio"
    (asset,) = video_result.data
    assert (asset.embedding_option, asset.embedding_scope) == ("visual", "asset")
    unit(asset.embedding)
    assert [task.id for task in sdk.embed.v_2.tasks.list()] == [video_task.id, audio_task.id]
    with pytest.raises(NotFoundError):
        sdk.embed.v_2.tasks.retrieve("0" * 24)
    with pytest.raises(BadRequestError) as refused:
        sdk.embed.v_2.tasks.create(
            input_type="audio",
            model_name=MODEL,
            audio=AsyncAudioInputRequest(
                media_source=MediaSource(base_64_string=audio), embedding_option=["transcription"]
            ),
        )
    assert "speech recogniser" in refused.value.body["message"]
