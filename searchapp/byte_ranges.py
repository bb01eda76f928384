"""One byte range of a stored file (RFC 9110 section 14): what media players ask for to seek,
so an audio player can start at a matching segment or where its waveform is clicked."""

from __future__ import annotations

import re
from typing import IO

RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class Unsatisfiable(Exception):
    pass


def requested_range(header: str, *, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single range asked for; None to send the whole file (no
    header, or one this server does not take: several ranges, other units)."""
    match = RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # the last N bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if size == 0 or start > end:
        raise Unsatisfiable(f"bytes */{size}")
    return start, end


class FileSlice:
    """Bytes `start` to `end` of an open file, read as the response streams them."""

    def __init__(self, stream: IO[bytes], *, start: int, end: int) -> None:
        stream.seek(start)
        self._stream = stream
        self._left = end - start + 1

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        data = self._stream.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._stream.close()
