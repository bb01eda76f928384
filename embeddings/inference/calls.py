"""The model's calls as they travel between tiers, for both sides: what a web or worker
process sends (`*_request`), and what an inference node makes of it (`run`), each input held
to the node's own limits before any work starts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast, get_args

import numpy as np
from PIL import Image

from embeddings.conf import IMAGE_TOKEN_BUDGETS, EmbeddingsSettings
from embeddings.engine.base import ClipInput, EmbeddingModel, Part, TruncateSide
from embeddings.errors import InputError
from embeddings.media.video import VideoClip

Header = dict[str, Any]
Call = tuple[Header, list[np.ndarray]]
# Inputs a call carries at most; a bigger batch goes as several calls.
MAX_INPUTS = 256
MAX_TEXT_CHARS = 200_000


def texts_request(texts: Sequence[str]) -> Call:
    return {"texts": list(texts)}, []


def images_request(images: Sequence[Image.Image], *, image_tokens: int | None) -> Call:
    return {"image_tokens": image_tokens}, [_pixels(image) for image in images]


def audio_request(waveforms: Sequence[np.ndarray]) -> Call:
    return {}, [np.asarray(waveform, dtype=np.float32) for waveform in waveforms]


def interleaved_request(parts: Sequence[Part], *, image_tokens: int | None) -> Call:
    images = [part for part in parts if isinstance(part, Image.Image)]
    described: list[str | None] = [
        None if isinstance(part, Image.Image) else part for part in parts
    ]
    return {"parts": described, "image_tokens": image_tokens}, [_pixels(image) for image in images]


def video_clips_request(
    clips: Sequence[VideoClip], *, option: ClipInput, frame_tokens: int | None
) -> Call:
    arrays: list[np.ndarray] = []
    described = []
    for clip in clips:
        arrays.append(clip.frames)
        if clip.audio is not None:
            arrays.append(np.asarray(clip.audio, dtype=np.float32))
        described.append(
            {
                "start_sec": clip.start_sec,
                "end_sec": clip.end_sec,
                "frame_times": list(clip.frame_times),
                "audio": clip.audio is not None,
            }
        )
    return {"clips": described, "option": option, "frame_tokens": frame_tokens}, arrays


def run(
    operation: str,
    header: Header,
    arrays: list[np.ndarray],
    *,
    model: EmbeddingModel,
    config: EmbeddingsSettings,
) -> Call:
    """Run one call on the node's model: the answer's header and arrays."""
    runner = RUNNERS.get(operation)
    if runner is None:
        raise InputError(f"there is no call {operation[:40]!r}; the calls: {', '.join(RUNNERS)}.")
    return runner(_Inputs(header, arrays, config=config, model=model))


class _Inputs:
    """A call's inputs, each taken once and checked on the way."""

    def __init__(
        self,
        header: Header,
        arrays: list[np.ndarray],
        *,
        config: EmbeddingsSettings,
        model: EmbeddingModel,
    ) -> None:
        self.header, self.config, self.model = header, config, model
        self._arrays = iter(arrays)
        self.remaining = len(arrays)
        if len(arrays) > MAX_INPUTS * 2:
            raise InputError(f"a call carries at most {MAX_INPUTS} inputs.")

    def field(self, name: str, kind: type | tuple[type, ...]) -> Any:
        value = self.header.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(f"{name} is missing or of the wrong type.")
        return value

    def texts(self, name: str = "texts") -> list[str]:
        texts = self.field(name, list)
        if len(texts) > MAX_INPUTS or not all(isinstance(text, str) for text in texts):
            raise InputError(f"{name} is a list of at most {MAX_INPUTS} texts.")
        if any(len(text) > MAX_TEXT_CHARS for text in texts):
            raise InputError(f"a text is longer than {MAX_TEXT_CHARS} characters.")
        return list(texts)

    def token_budget(self, name: str) -> int | None:
        budget = self.header.get(name)
        if budget is not None and budget not in IMAGE_TOKEN_BUDGETS:
            raise InputError(f"{name} is one of {IMAGE_TOKEN_BUDGETS} or null.")
        return budget

    def array(self, dtype: type, dimensions: int) -> np.ndarray:
        array = next(self._arrays, None)
        if array is None:
            raise InputError("the call carries fewer arrays than its inputs need.")
        self.remaining -= 1
        if array.dtype != dtype or array.ndim != dimensions:
            raise InputError(f"an input is not a {dimensions}-D array of {np.dtype(dtype)}.")
        return array

    def image(self, *, max_pixels: int) -> Image.Image:
        pixels = self.array(np.uint8, 3)
        height, width, channels = pixels.shape
        if channels != 3 or not 0 < height * width <= max_pixels:
            raise InputError(
                f"an image is {width}x{height}x{channels}; RGB up to {max_pixels} pixels."
            )
        return Image.fromarray(pixels, mode="RGB")

    def waveform(self) -> np.ndarray:
        samples = self.array(np.float32, 1)
        limit = self.config.audio_limits.max_duration_sec * self.model.sampling_rate
        if not 0 < samples.size <= limit or not np.isfinite(samples).all():
            raise InputError(f"a waveform holds 1 to {limit:.0f} finite samples.")
        return samples

    def clip(self, described: object) -> VideoClip:
        if not isinstance(described, dict):
            raise InputError("each clip is an object.")
        limits = self.config.video_limits
        frames = self.array(np.uint8, 4)
        count, height, width, channels = frames.shape
        if not 0 < count <= limits.max_frames_per_clip or channels != 3:
            raise InputError(f"a clip holds 1 to {limits.max_frames_per_clip} RGB frames.")
        if height * width > limits.max_frame_pixels:
            raise InputError(f"a frame is larger than {limits.max_frame_pixels} pixels.")
        times = described.get("frame_times")
        start, end = described.get("start_sec"), described.get("end_sec")
        if (
            not isinstance(times, list)
            or len(times) != count
            or not all(isinstance(time, int | float) for time in [*times, start, end])
        ):
            raise InputError(
                "a clip's start_sec, end_sec and frame_times (one a frame) are numbers."
            )
        audio = self.waveform() if described.get("audio") is True else None
        return VideoClip(
            start_sec=float(start),  # type: ignore[arg-type]
            end_sec=float(end),  # type: ignore[arg-type]
            frames=frames,
            frame_times=tuple(float(time) for time in times),
            audio=audio,
        )

    def done(self) -> None:
        if self.remaining:
            raise InputError("the call carries more arrays than its inputs need.")


def _vectors(vectors: np.ndarray) -> Call:
    return {}, [np.asarray(vectors, dtype=np.float32)]


def _count_tokens(inputs: _Inputs) -> Call:
    texts = inputs.texts()
    inputs.done()
    return {"tokens": [inputs.model.count_tokens(text) for text in texts]}, []


def _truncate_text(inputs: _Inputs) -> Call:
    texts = inputs.texts()
    max_tokens = inputs.field("max_tokens", int)
    side = cast(TruncateSide, inputs.header.get("side"))
    if side not in get_args(TruncateSide) or max_tokens < 1:
        raise InputError("side is start or end, and max_tokens at least 1.")
    inputs.done()
    return {
        "texts": [
            inputs.model.truncate_text(text, max_tokens=max_tokens, side=side) for text in texts
        ]
    }, []


def _embed_texts(inputs: _Inputs) -> Call:
    texts = inputs.texts()
    inputs.done()
    return _vectors(inputs.model.embed_texts(texts))


def _embed_images(inputs: _Inputs) -> Call:
    budget = inputs.token_budget("image_tokens")
    images = [
        inputs.image(max_pixels=inputs.config.image_max_pixels) for _ in range(inputs.remaining)
    ]
    inputs.done()
    return _vectors(inputs.model.embed_images(images, image_tokens=budget))


def _embed_audio(inputs: _Inputs) -> Call:
    waveforms = [inputs.waveform() for _ in range(inputs.remaining)]
    inputs.done()
    return _vectors(inputs.model.embed_audio(waveforms))


def _embed_interleaved(inputs: _Inputs) -> Call:
    budget = inputs.token_budget("image_tokens")
    described = inputs.field("parts", list)
    if not 0 < len(described) <= MAX_INPUTS:
        raise InputError(f"parts is a list of 1 to {MAX_INPUTS} texts and images.")
    parts: list[Part] = []
    for part in described:
        if part is None:
            parts.append(inputs.image(max_pixels=inputs.config.image_max_pixels))
        elif isinstance(part, str) and len(part) <= MAX_TEXT_CHARS:
            parts.append(part)
        else:
            raise InputError("each part is a text or null (the next image).")
    inputs.done()
    return _vectors(inputs.model.embed_interleaved(parts, image_tokens=budget)[None, :])


def _embed_video_clips(inputs: _Inputs) -> Call:
    option = cast(ClipInput, inputs.header.get("option"))
    if option not in get_args(ClipInput):
        raise InputError(f"option is one of {', '.join(get_args(ClipInput))}.")
    budget = inputs.token_budget("frame_tokens")
    described = inputs.field("clips", list)
    if len(described) > MAX_INPUTS:
        raise InputError(f"a call carries at most {MAX_INPUTS} clips.")
    clips = [inputs.clip(clip) for clip in described]
    inputs.done()
    return _vectors(inputs.model.embed_video_clips(clips, option=option, frame_tokens=budget))


RUNNERS: dict[str, Callable[[_Inputs], Call]] = {
    "count_tokens": _count_tokens,
    "truncate_text": _truncate_text,
    "embed_texts": _embed_texts,
    "embed_images": _embed_images,
    "embed_audio": _embed_audio,
    "embed_interleaved": _embed_interleaved,
    "embed_video_clips": _embed_video_clips,
}


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)
