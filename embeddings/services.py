from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, cast, get_args

import numpy as np
from PIL.Image import Image

from embeddings.conf import VIDEO_CLIP_SEC_RANGE, EmbeddingsSettings, embeddings_settings
from embeddings.engine.base import EmbeddingModel, Part
from embeddings.engine.registry import get_model
from embeddings.errors import InputError
from embeddings.media.audio import AudioClip, AudioSegment, BeyondLimit, check_audio, split_clip
from embeddings.media.images import decode_image
from embeddings.media.video import VideoClip, VideoFile, check_video, split_video
from embeddings.spaces import VectorSpace, configured_space

TextTruncate = Literal["start", "end", "none"]
TEXT_TRUNCATE_CHOICES: tuple[TextTruncate, ...] = ("start", "end", "none")
# TwelveLabs' embedding options: the frames (through the model's video input), the audio track
# (through the audio encoder, like an audio file) and both (frames and audio interleaved in one
# video input, the model's own audio-visual layout).
VideoOption = Literal["visual", "audio", "fused"]
VIDEO_OPTIONS: tuple[VideoOption, ...] = get_args(VideoOption)
# A vector per clip, or one for the whole part embedded (the clip vectors' mean, normalised).
VideoScope = Literal["clip", "asset"]
VIDEO_SCOPES: tuple[VideoScope, ...] = get_args(VideoScope)


@dataclass(frozen=True)
class Embedding:
    vector: np.ndarray
    start_sec: float | None = None
    end_sec: float | None = None


@dataclass(frozen=True)
class VideoEmbedding(Embedding):
    option: VideoOption = "visual"
    scope: VideoScope = "clip"


def prepare_text(
    text: str, *, truncate: TextTruncate, model: EmbeddingModel, config: EmbeddingsSettings
) -> str:
    if not text.strip():
        raise InputError("the text is empty.")
    limit = config.text_max_tokens
    if truncate == "none":
        tokens = model.count_tokens(text)
        if tokens > limit:
            raise InputError(
                f"the text token length should be less than or equal to {limit}; it is {tokens}. "
                "Shorten it or set text_truncate to start or end."
            )
        return text
    return model.truncate_text(text, max_tokens=limit, side=truncate)


def prepare_image(data: bytes, *, config: EmbeddingsSettings) -> Image:
    return decode_image(data, max_pixels=config.image_max_pixels)


def prepare_audio(
    data: bytes,
    *,
    start_offset_sec: float,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
    cut_at_sec: float | None = None,
) -> AudioClip:
    """The clip to embed; with `cut_at_sec`, only the file's start up to that time, the
    rest left undecoded."""
    limits = config.audio_limits
    beyond_limit: BeyondLimit = "refuse"
    if cut_at_sec is not None:
        limits = replace(limits, max_duration_sec=min(cut_at_sec, limits.max_duration_sec))
        beyond_limit = "cut"
    return check_audio(
        data,
        sampling_rate=model.sampling_rate,
        limits=limits,
        start_offset_sec=start_offset_sec,
        beyond_limit=beyond_limit,
    )


def prepare_video(
    source: bytes | Path,
    *,
    start_sec: float = 0.0,
    end_sec: float | None = None,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
) -> VideoFile:
    return check_video(
        source,
        limits=config.video_limits,
        start_sec=start_sec,
        end_sec=end_sec,
        sampling_rate=model.sampling_rate,
    )


def embed_texts(texts: list[str], *, model: EmbeddingModel) -> list[Embedding]:
    return [Embedding(vector) for vector in model.embed_texts(texts)]


def embed_images(
    images: list[Image], *, model: EmbeddingModel, space: VectorSpace
) -> list[Embedding]:
    vectors = model.embed_images(images, image_tokens=space.image_tokens)
    return [Embedding(vector) for vector in vectors]


def embed_clip(
    clip: AudioClip,
    *,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
    on_segment: Callable[[AudioSegment], None] | None = None,
    fixed_segment_sec: float | None = None,
) -> list[Embedding]:
    """One embedding per segment, decoded and embedded a batch at a time; `on_segment` sees
    each decoded segment, in order (a caller measuring the audio needs no decoding of its own).
    Segments are equal and closest to the configured length, or with `fixed_segment_sec`
    exactly that long from the clip's start, the last one shorter."""
    embeddings: list[Embedding] = []
    if fixed_segment_sec is None:
        segments = split_clip(clip, target_sec=config.audio_segment_sec)
    else:
        segments = split_clip(clip, target_sec=fixed_segment_sec, fixed=True)
    # Closed at once if the model fails, not when the collector gets to the open decoder.
    with closing(segments):
        while batch := list(itertools.islice(segments, config.model.batch_size)):
            if on_segment is not None:
                for segment in batch:
                    on_segment(segment)
            vectors = model.embed_audio([segment.samples for segment in batch])
            embeddings += [
                Embedding(vector, start_sec=segment.start_sec, end_sec=segment.end_sec)
                for segment, vector in zip(batch, vectors, strict=True)
            ]
    return embeddings


def embed_video_file(
    video: VideoFile,
    *,
    options: Sequence[VideoOption],
    scopes: Sequence[VideoScope] = ("clip",),
    clip_sec: float | None = None,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
    space: VectorSpace,
    on_clip: Callable[[VideoClip], None] | None = None,
) -> list[VideoEmbedding]:
    """The clips' embeddings in time order, each clip's in the order of VIDEO_OPTIONS (a file
    without an audio track has no `audio` ones), then the asset embeddings, one per option;
    the file is decoded once, a clip at a time, and `on_clip` sees each clip."""
    _check_choices("embedding option", options, VIDEO_OPTIONS)
    _check_choices("embedding scope", scopes, VIDEO_SCOPES)
    chosen = [option for option in VIDEO_OPTIONS if option in options]
    if not video.has_audio and chosen == ["audio"]:
        raise InputError("the video has no audio track to embed.")
    clip_sec = config.video_clip_sec if clip_sec is None else clip_sec
    shortest, longest = VIDEO_CLIP_SEC_RANGE
    if not shortest <= clip_sec <= longest:
        raise InputError(
            f"the clip length ({clip_sec:g} s) must be {shortest:g} to {longest:g} seconds."
        )
    frame_tokens = space.video_frame_tokens
    per_option: dict[VideoOption, list[np.ndarray]] = {option: [] for option in chosen}
    clips: list[VideoEmbedding] = []
    decoded = split_video(
        video, clip_sec=clip_sec, fps=space.video_fps, sampling_rate=model.sampling_rate
    )
    with closing(decoded):
        for clip in decoded:
            if on_clip is not None:
                on_clip(clip)
            for option in chosen:
                vector = _clip_vector(clip, option=option, model=model, frame_tokens=frame_tokens)
                if vector is None:
                    continue
                per_option[option].append(vector)
                clips.append(VideoEmbedding(vector, clip.start_sec, clip.end_sec, option=option))
    embeddings = clips if "clip" in scopes else []
    if "asset" in scopes:
        embeddings += [
            VideoEmbedding(
                _mean_direction(vectors),
                video.start_sec,
                video.end_sec,
                option=option,
                scope="asset",
            )
            for option, vectors in per_option.items()
            if vectors
        ]
    return embeddings


def _check_choices(name: str, given: Collection[str], choices: tuple[str, ...]) -> None:
    unknown = sorted(set(given) - set(choices))
    if unknown or not given:
        raise InputError(
            f"{', '.join(unknown) or 'no'} {name}; use one or more of {', '.join(choices)}."
        )


def _clip_vector(
    clip: VideoClip, *, option: VideoOption, model: EmbeddingModel, frame_tokens: int
) -> np.ndarray | None:
    if option == "audio":
        return None if clip.audio is None else cast(np.ndarray, model.embed_audio([clip.audio])[0])
    return cast(
        np.ndarray, model.embed_video_clips([clip], option=option, frame_tokens=frame_tokens)[0]
    )


def _mean_direction(vectors: list[np.ndarray]) -> np.ndarray:
    mean = np.mean(vectors, axis=0, dtype=np.float64)
    return cast(
        np.ndarray,
        (mean / max(np.linalg.norm(mean), np.finfo(np.float32).tiny)).astype(np.float32),
    )


def embed_video(
    source: bytes | Path,
    *,
    options: Sequence[VideoOption] = ("visual",),
    scopes: Sequence[VideoScope] = ("clip",),
    clip_sec: float | None = None,
    start_sec: float = 0.0,
    end_sec: float | None = None,
    space: VectorSpace | None = None,
) -> list[VideoEmbedding]:
    space = space or configured_space()
    model, config = _model_in(space), embeddings_settings()
    video = prepare_video(source, start_sec=start_sec, end_sec=end_sec, model=model, config=config)
    return embed_video_file(
        video,
        options=options,
        scopes=scopes,
        clip_sec=clip_sec,
        model=model,
        config=config,
        space=space,
    )


def embed_parts(parts: Sequence[Part], *, model: EmbeddingModel, space: VectorSpace) -> Embedding:
    """The model's own embedding of images and words as one input, in their order."""
    return Embedding(model.embed_interleaved(parts, image_tokens=space.image_tokens))


def mean_embedding(embeddings: Sequence[Embedding]) -> Embedding:
    """One embedding for the whole span: the L2-normalised mean of its parts' vectors."""
    return Embedding(
        _mean_direction([embedding.vector for embedding in embeddings]),
        start_sec=embeddings[0].start_sec,
        end_sec=embeddings[-1].end_sec,
    )


def embed_text(
    text: str, *, truncate: TextTruncate = "end", space: VectorSpace | None = None
) -> Embedding:
    model, config = _model_in(space), embeddings_settings()
    return embed_texts(
        [prepare_text(text, truncate=truncate, model=model, config=config)], model=model
    )[0]


def embed_image(data: bytes, *, space: VectorSpace | None = None) -> Embedding:
    space = space or configured_space()
    image = prepare_image(data, config=embeddings_settings())
    return embed_images([image], model=_model_in(space), space=space)[0]


def embed_image_with_text(
    data: bytes, text: str, *, truncate: TextTruncate = "end", space: VectorSpace | None = None
) -> Embedding:
    """The model's own embedding of the image and the words as one input."""
    space = space or configured_space()
    model, config = _model_in(space), embeddings_settings()
    image = prepare_image(data, config=config)
    words = prepare_text(text, truncate=truncate, model=model, config=config)
    return Embedding(model.embed_image_with_text(image, words, image_tokens=space.image_tokens))


def embed_audio(
    data: bytes, *, start_offset_sec: float = 0.0, space: VectorSpace | None = None
) -> list[Embedding]:
    model, config = _model_in(space), embeddings_settings()
    clip = prepare_audio(data, start_offset_sec=start_offset_sec, model=model, config=config)
    return embed_clip(clip, model=model, config=config)


def _model_in(space: VectorSpace | None) -> EmbeddingModel:
    return get_model(source=(space or configured_space()).source)
