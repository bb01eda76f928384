from __future__ import annotations

from dataclasses import dataclass

from embeddings.conf import embeddings_settings

_IMAGE_TOKENS_MARK = "#image-tokens="
_VIDEO_FRAME_TOKENS_MARK = "#video-frame-tokens="
_VIDEO_FPS_MARK = "#video-fps="
# The video processor's own: 70 tokens a frame, a frame a second.
DEFAULT_VIDEO_FRAME_TOKENS = 70
DEFAULT_VIDEO_FPS = 1.0


@dataclass(frozen=True)
class VectorSpace:
    """What makes vectors comparable: the model, and how it is given images and video (another
    token budget or frame rate is another input, so another vector). `key` names it where
    vectors are stored; settings left at their defaults add nothing to it, so the keys of
    vectors made before video existed still name their space."""

    source: str
    image_tokens: int | None = None  # None: the model's own default
    video_frame_tokens: int = DEFAULT_VIDEO_FRAME_TOKENS
    video_fps: float = DEFAULT_VIDEO_FPS

    @property
    def key(self) -> str:
        key = self.source
        if self.image_tokens is not None:
            key += f"{_IMAGE_TOKENS_MARK}{self.image_tokens}"
        if self.video_frame_tokens != DEFAULT_VIDEO_FRAME_TOKENS:
            key += f"{_VIDEO_FRAME_TOKENS_MARK}{self.video_frame_tokens}"
        if self.video_fps != DEFAULT_VIDEO_FPS:
            key += f"{_VIDEO_FPS_MARK}{self.video_fps:g}"
        return key

    @classmethod
    def from_key(cls, key: str) -> VectorSpace:
        key, fps = _take(key, _VIDEO_FPS_MARK, decimal=True)
        key, frame_tokens = _take(key, _VIDEO_FRAME_TOKENS_MARK)
        key, image_tokens = _take(key, _IMAGE_TOKENS_MARK)
        return cls(
            source=key,
            image_tokens=None if image_tokens is None else int(image_tokens),
            video_frame_tokens=(
                DEFAULT_VIDEO_FRAME_TOKENS if frame_tokens is None else int(frame_tokens)
            ),
            video_fps=DEFAULT_VIDEO_FPS if fps is None else float(fps),
        )


def _take(key: str, mark: str, *, decimal: bool = False) -> tuple[str, str | None]:
    """The key without its last `mark=value` part, and that value (None if it has none)."""
    rest, found, value = key.rpartition(mark)
    if found and (value.replace(".", "", 1) if decimal else value).isdigit():
        return rest, value
    return key, None


def configured_space() -> VectorSpace:
    """The space new vectors are made in."""
    config = embeddings_settings()
    return VectorSpace(
        source=config.model.source,
        image_tokens=config.model.image_tokens,
        video_frame_tokens=config.video_frame_tokens,
        video_fps=config.video_fps,
    )
