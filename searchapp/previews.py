from __future__ import annotations

import io
from dataclasses import replace
from fractions import Fraction

import av
import numpy as np

from embeddings.conf import embeddings_settings
from embeddings.media.audio import check_audio, split_clip
from embeddings.media.video import poster_frame
from searchapp.models import Modality
from searchapp.thumbnails import make_renditions, make_thumbnail

PREVIEW_AUDIO_SEC = 10.0
PREVIEW_AUDIO_RATE = 16_000
PREVIEW_AUDIO_BITS_PER_SEC = 24_000
# A preview past this is not kept (the search still is): a bound on what each key stores.
MAX_PREVIEW_BYTES = 128 * 1024


def query_preview(data: bytes, *, modality: str) -> tuple[bytes, str]:
    """What a file query looks or sounds like, small: (bytes, content type), or (b"", "")."""
    if modality == Modality.IMAGE:
        preview, content_type = make_thumbnail(data).read(), "image/webp"
    elif modality == Modality.VIDEO:
        poster = make_renditions(poster_frame(data), preview=False).thumbnail
        preview, content_type = poster.read(), "image/webp"
    else:
        preview, content_type = audio_start(data, seconds=PREVIEW_AUDIO_SEC), "audio/ogg"
    if len(preview) > MAX_PREVIEW_BYTES:
        return b"", ""
    return preview, content_type


def audio_start(data: bytes, *, seconds: float) -> bytes:
    """The first seconds of a clip, mono, as Opus in Ogg; the rest is never decoded."""
    limits = embeddings_settings().audio_limits
    limits = replace(limits, max_duration_sec=min(seconds, limits.max_duration_sec))
    clip = check_audio(data, sampling_rate=PREVIEW_AUDIO_RATE, limits=limits, beyond_limit="cut")
    samples = np.concatenate(
        [segment.samples for segment in split_clip(clip, target_sec=clip.duration_sec)]
    )
    return _opus(samples, sampling_rate=PREVIEW_AUDIO_RATE)


def _opus(samples: np.ndarray, *, sampling_rate: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=sampling_rate)
        stream.layout = "mono"
        stream.bit_rate = PREVIEW_AUDIO_BITS_PER_SEC
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt", layout="mono"
        )
        frame.sample_rate = sampling_rate
        frame.pts = 0
        frame.time_base = Fraction(1, sampling_rate)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()
