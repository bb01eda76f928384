from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass

import av
from av.container import InputContainer
from PIL import ExifTags, Image, JpegImagePlugin

from embeddings.conf import embeddings_settings
from embeddings.errors import InputError
from embeddings.media.audio import audio_stream, declared_duration_sec, open_audio
from embeddings.media.images import UnsupportedImage, open_image
from embeddings.media.video import SUPPORTED_FORMATS as VIDEO_FORMATS
from embeddings.media.video import open_video
from searchapp.models import Modality

# One for each of the image decoder's FORMATS and the audio decoder's DEMUXERS (tests check).
IMAGE_MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
AUDIO_MIME_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "mov": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "matroska": "audio/webm",
}
# Of the video decoder's DEMUXERS; browsers play MP4 and MOV with H.264 as MP4, and MKV as WebM.
VIDEO_MIME_TYPES = {"mov": "video/mp4", "matroska": "video/webm"}


@dataclass(frozen=True, kw_only=True)
class MediaInfo:
    modality: Modality
    mime_type: str
    width: int | None = None
    height: int | None = None
    duration_sec: float | None = None


def probe_media(data: bytes) -> MediaInfo:
    """What an uploaded file is, read from its content, never from its name; an image or
    audio file that its header rules out is refused here, before it is stored."""
    image = _probe_image(data)
    if image is not None:
        return image
    # Before audio: a video's container is one the audio decoder also opens.
    video = _probe_video(data)
    if video is not None:
        return video
    audio = _probe_audio(data)
    if audio is not None:
        return audio
    raise InputError(
        "the file is neither a supported image (JPEG, PNG, WebP, GIF, BMP, TIFF), audio file "
        f"(WAV, MP3, M4A/AAC, OGG, Opus, FLAC, WebM) nor video ({VIDEO_FORMATS})."
    )


def _probe_image(data: bytes) -> MediaInfo | None:
    try:
        image = open_image(data, max_pixels=embeddings_settings().image_max_pixels)
    except UnsupportedImage:
        return None
    with image:
        width, height = _shown_size(image)
        return MediaInfo(
            modality=Modality.IMAGE, mime_type=_image_mime_type(image), width=width, height=height
        )


def _probe_video(data: bytes) -> MediaInfo | None:
    try:
        container = open_video(data)
    except InputError:
        return None
    with closing(container):
        # Cover art in an M4A or WebM sound is a one-picture "video" stream.
        moving = [
            stream
            for stream in container.streams.video
            if not stream.disposition & av.stream.Disposition.attached_pic
        ]
        if not moving:
            return None
        context = moving[0].codec_context
        if context is None:
            raise InputError(f"unsupported video codec; supported formats: {VIDEO_FORMATS}.")
        (demuxer,) = set(container.format.name.split(",")) & set(VIDEO_MIME_TYPES)
        return MediaInfo(
            modality=Modality.VIDEO,
            mime_type=VIDEO_MIME_TYPES[demuxer],
            width=context.width or None,
            height=context.height or None,
            duration_sec=declared_duration_sec(container),
        )


def _probe_audio(data: bytes) -> MediaInfo | None:
    try:
        container = open_audio(data)
    except InputError:
        return None
    with closing(container):
        if not container.streams.audio:
            return None
        audio_stream(container, limits=embeddings_settings().audio_limits)
        return MediaInfo(
            modality=Modality.AUDIO,
            mime_type=_audio_mime_type(container),
            duration_sec=declared_duration_sec(container),
        )


def _shown_size(image: Image.Image) -> tuple[int, int]:
    # Browsers and the decoder (decode_image) turn the picture as its EXIF orientation says;
    # orientations 5 to 8 turn it a quarter, swapping width and height.
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation)
    except MemoryError:
        raise
    except Exception as error:
        # The decoder reads the same metadata and would fail on it in the worker.
        raise InputError(f"could not read the image's metadata: {error}") from error
    turned = orientation in (5, 6, 7, 8)
    return (image.height, image.width) if turned else (image.width, image.height)


def _image_mime_type(image: Image.Image) -> str:
    # Multi-picture files from phones (MPO) open as a kind of JPEG; browsers show the first.
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        return IMAGE_MIME_TYPES["JPEG"]
    return IMAGE_MIME_TYPES[str(image.format)]


def _audio_mime_type(container: InputContainer) -> str:
    # FFmpeg names a demuxer by all its formats ("mov,mp4,m4a,3gp,3g2,mj2"), the allowlist by one.
    (demuxer,) = set(container.format.name.split(",")) & set(AUDIO_MIME_TYPES)
    return AUDIO_MIME_TYPES[demuxer]
