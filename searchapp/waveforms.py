from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embeddings.media.audio import AudioSegment

WAVEFORM_BARS = 160
WAVEFORM_TOP = 100
# Peaks below this (about -80 dBFS) are silence, not a shape to scale up.
SILENCE = 1e-4
# The drawing's coordinates: one unit per bar across, WAVEFORM_TOP units high.
HEIGHT = 100
LOWEST_BAR = 0.8


class PeakEnvelope:
    """The peak level of each of `bars` equal stretches of a clip `length` samples long, fed
    the clip's segments in order as they are decoded, so no decoding is done for it alone."""

    def __init__(self, *, length: int, bars: int = WAVEFORM_BARS) -> None:
        self._length = length
        self._peaks = np.zeros(max(min(bars, length), 1), dtype=np.float32)
        self._position = 0

    def add(self, segment: AudioSegment) -> None:
        start = self._position
        samples = np.abs(segment.samples[: max(self._length - start, 0)])
        self._position += len(samples)
        if not len(samples):
            return
        bars = len(self._peaks)
        first, last = start * bars // self._length, (self._position - 1) * bars // self._length
        indices = np.arange(first, last + 1, dtype=np.int64)
        # Where each bar starts, counted from this segment's first sample (ceiling division).
        edges = np.maximum(-(-indices * self._length // bars) - start, 0)
        peaks = np.maximum.reduceat(samples, edges)
        self._peaks[first : last + 1] = np.maximum(self._peaks[first : last + 1], peaks)

    def levels(self) -> list[int]:
        loudest = float(self._peaks.max())
        if loudest < SILENCE:
            return [0] * len(self._peaks)
        return [int(level) for level in np.rint(self._peaks / loudest * WAVEFORM_TOP)]


@dataclass(frozen=True, kw_only=True)
class WaveformDrawing:
    """An SVG drawing of a waveform (viewBox 0 0 width HEIGHT): bars mirrored about the middle,
    those inside the highlighted stretch apart, and lines where segments begin."""

    width: int
    bars: str
    highlighted_bars: str = ""
    highlight_x: float | None = None
    highlight_width: float = 0.0
    bounds: str = ""
    label: str = ""


def waveform_drawing(
    *,
    levels: Sequence[int],
    duration_sec: float,
    title: str,
    start_sec: float | None = None,
    end_sec: float | None = None,
    segment_starts: Sequence[float] = (),
) -> WaveformDrawing:
    count = len(levels)
    scale = count / duration_sec if duration_sec > 0 else 0.0
    inside = range(0)
    label = f"Waveform of {title}, {duration_sec:.1f} s"
    highlight_x, highlight_width = None, 0.0
    if start_sec is not None and end_sec is not None and scale and end_sec > start_sec:
        highlight_x = round(max(start_sec, 0.0) * scale, 2)
        highlight_width = round(min(end_sec * scale, count) - highlight_x, 2)
        inside = range(int(highlight_x), min(int(np.ceil(highlight_x + highlight_width)), count))
        label += f"; {start_sec:.1f} to {end_sec:.1f} s highlighted"
    outside = [index for index in range(count) if index not in inside]
    return WaveformDrawing(
        width=count,
        bars=_bars(levels, outside),
        highlighted_bars=_bars(levels, inside),
        highlight_x=highlight_x,
        highlight_width=highlight_width,
        bounds="".join(
            f"M{start * scale:.2f} 0V{HEIGHT}" for start in segment_starts if start * scale > 0
        ),
        label=label,
    )


def _bars(levels: Sequence[int], indices: Sequence[int] | range) -> str:
    middle = HEIGHT / 2
    path = []
    for index in indices:
        half = max(levels[index] / WAVEFORM_TOP * (middle - 2), LOWEST_BAR)
        path.append(f"M{index + 0.5:g} {middle - half:.1f}V{middle + half:.1f}")
    return "".join(path)
