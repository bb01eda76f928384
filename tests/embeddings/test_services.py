from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from bench.media_factory import make_audio
from bench.video_factory import make_video
from embeddings.conf import embeddings_settings
from embeddings.engine.base import EmbeddingModel
from embeddings.errors import InputError
from embeddings.media.audio import split_clip
from embeddings.media.video import VideoFile
from embeddings.services import (
    VIDEO_OPTIONS,
    embed_clip,
    embed_video,
    embed_video_file,
    prepare_audio,
    prepare_video,
)
from embeddings.spaces import VectorSpace, configured_space


def test_embed_clip_feeds_the_model_one_batch_of_segments_at_a_time(
    model: EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = embeddings_settings()
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, batch_size=2))
    clip = prepare_audio(
        make_audio("flac", seconds=50.0, channels=1),
        start_offset_sec=0.0,
        model=model,
        config=config,
    )
    whole = model.embed_audio([segment.samples for segment in split_clip(clip)])
    batch_sizes: list[int] = []
    embed_audio = model.embed_audio

    def counting(waveforms: Sequence[np.ndarray]) -> np.ndarray:
        batch_sizes.append(len(waveforms))
        return embed_audio(waveforms)

    monkeypatch.setattr(model, "embed_audio", counting)

    embeddings = embed_clip(clip, model=model, config=config)

    assert batch_sizes == [2, 2, 1]
    assert [(e.start_sec, e.end_sec) for e in embeddings] == [
        (0.0, 10.0),
        (10.0, 20.0),
        (20.0, 30.0),
        (30.0, 40.0),
        (40.0, 50.0),
    ]
    np.testing.assert_allclose(np.stack([e.vector for e in embeddings]), whole, atol=1e-5)


def _video(model: EmbeddingModel, data: bytes, **offsets: float) -> VideoFile:
    return prepare_video(data, model=model, config=embeddings_settings(), **offsets)


def test_embed_video_file_gives_each_clip_one_embedding_per_option_in_time_order(
    model: EmbeddingModel,
) -> None:
    video = _video(model, make_video("mp4", seconds=5.0, colour_sec=2.0))
    seen: list[tuple[float, float]] = []

    embeddings = embed_video_file(
        video,
        options=("fused", "visual", "audio"),
        clip_sec=2.0,
        model=model,
        config=embeddings_settings(),
        space=configured_space(),
        on_clip=lambda clip: seen.append((clip.start_sec, clip.end_sec)),
    )

    assert seen == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]
    assert [(e.start_sec, e.end_sec, e.option, e.scope) for e in embeddings] == [
        (start, end, option, "clip") for start, end in seen for option in VIDEO_OPTIONS
    ]
    visual = [e.vector for e in embeddings if e.option == "visual"]
    assert visual[0] @ visual[1] < 0.9999  # red, then green


def test_the_asset_vector_is_the_normalised_mean_of_the_clip_vectors_per_option(
    model: EmbeddingModel,
) -> None:
    video = _video(model, make_video("webm-vp9", seconds=5.0, colour_sec=2.0))

    embeddings = embed_video_file(
        video,
        options=("visual", "audio"),
        scopes=("clip", "asset"),
        clip_sec=2.0,
        model=model,
        config=embeddings_settings(),
        space=configured_space(),
    )

    assets = [e for e in embeddings if e.scope == "asset"]
    assert [(e.option, e.start_sec, e.end_sec) for e in assets] == [
        ("visual", 0.0, 5.0),
        ("audio", 0.0, 5.0),
    ]
    for asset in assets:
        clips = np.stack(
            [e.vector for e in embeddings if e.scope == "clip" and e.option == asset.option]
        )
        mean = clips.mean(axis=0)
        np.testing.assert_allclose(asset.vector, mean / np.linalg.norm(mean), atol=1e-6)


def test_a_video_without_audio_has_no_audio_embeddings(model: EmbeddingModel) -> None:
    video = _video(model, make_video("mp4", seconds=3.0, audio=False))
    config, space = embeddings_settings(), configured_space()

    embeddings = embed_video_file(
        video, options=("visual", "audio"), model=model, config=config, space=space
    )

    assert [e.option for e in embeddings] == ["visual"]
    with pytest.raises(InputError, match="no audio track"):
        embed_video_file(video, options=("audio",), model=model, config=config, space=space)


@pytest.mark.parametrize(
    ("options", "scopes", "message"),
    [
        ((), ("clip",), "no embedding option; use one or more of visual, audio, fused"),
        (("visual", "colour"), ("clip",), "colour embedding option"),
        (("visual",), ("scene",), "scene embedding scope; use one or more of clip, asset"),
    ],
)
def test_unknown_video_options_and_scopes_are_refused_with_the_choices(
    model: EmbeddingModel, options: tuple[str, ...], scopes: tuple[str, ...], message: str
) -> None:
    video = _video(model, make_video("mp4", seconds=1.0))

    with pytest.raises(InputError, match=message):
        embed_video_file(
            video,
            options=options,  # type: ignore[arg-type]
            scopes=scopes,  # type: ignore[arg-type]
            model=model,
            config=embeddings_settings(),
            space=configured_space(),
        )


@pytest.mark.parametrize("clip_sec", [1.9, 10.5, float("nan")])
def test_clip_lengths_outside_twelvelabs_range_are_refused(
    model: EmbeddingModel, clip_sec: float
) -> None:
    video = _video(model, make_video("mp4", seconds=1.0))

    with pytest.raises(InputError, match="must be 2 to 10 seconds"):
        embed_video_file(
            video,
            options=("visual",),
            clip_sec=clip_sec,
            model=model,
            config=embeddings_settings(),
            space=configured_space(),
        )


def test_embed_video_with_offsets_embeds_that_part_only() -> None:
    data = make_video("mkv", seconds=6.0, colour_sec=1.0)

    embeddings = embed_video(
        data, scopes=("asset", "clip"), clip_sec=2.0, start_sec=1.0, end_sec=4.5
    )

    assert [(e.start_sec, e.end_sec, e.scope) for e in embeddings] == [
        (1.0, 3.0, "clip"),
        (3.0, 4.5, "clip"),
        (1.0, 4.5, "asset"),
    ]


@pytest.mark.parametrize(
    ("space", "key"),
    [
        (VectorSpace("google/embeddinggemma-2"), "google/embeddinggemma-2"),
        (VectorSpace("m", image_tokens=280), "m#image-tokens=280"),
        (VectorSpace("m", video_frame_tokens=140), "m#video-frame-tokens=140"),
        (VectorSpace("m", video_fps=0.5), "m#video-fps=0.5"),
        (
            VectorSpace("m", image_tokens=70, video_frame_tokens=280, video_fps=2.0),
            "m#image-tokens=70#video-frame-tokens=280#video-fps=2",
        ),
    ],
)
def test_video_settings_join_a_space_key_only_when_they_are_not_the_defaults(
    space: VectorSpace, key: str
) -> None:
    assert space.key == key
    assert VectorSpace.from_key(key) == space


def test_the_configured_space_samples_video_as_the_settings_say(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_VIDEO_FPS = 2.0
    settings.EMBEDDINGS_VIDEO_FRAME_TOKENS = 140

    space = configured_space()

    assert (space.video_fps, space.video_frame_tokens) == (2.0, 140)
    assert space.key.endswith("#video-frame-tokens=140#video-fps=2")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("EMBEDDINGS_VIDEO_FRAME_TOKENS", 100, "70, 140, 280, 560, 1120"),
        ("EMBEDDINGS_VIDEO_CLIP_SEC", 12.0, "2 to 10 seconds"),
        ("EMBEDDINGS_VIDEO_CLIP_SEC", 1.0, "2 to 10 seconds"),
    ],
)
def test_video_settings_the_model_cannot_take_are_refused_with_the_choices(
    settings,  # type: ignore[no-untyped-def]
    name: str,
    value: float,
    message: str,
) -> None:
    setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured, match=message):
        embeddings_settings()


def test_frames_sampled_faster_give_more_frames_a_clip_and_another_vector(
    model: EmbeddingModel,
) -> None:
    data = make_video("mp4", seconds=4.0, fps=10, colour_sec=0.5)
    video = _video(model, data)
    config, space = embeddings_settings(), configured_space()
    seen: list[int] = []

    (default,) = embed_video_file(
        video, options=("visual",), clip_sec=4.0, model=model, config=config, space=space
    )
    (faster,) = embed_video_file(
        video,
        options=("visual",),
        clip_sec=4.0,
        model=model,
        config=config,
        space=dataclasses.replace(space, video_fps=2.0),
        on_clip=lambda clip: seen.append(len(clip.frames)),
    )

    assert seen == [8]
    assert default.vector @ faster.vector < 0.9999
