from __future__ import annotations

from collections.abc import Sequence

from django import template
from django.utils import timezone

from searchapp.access import Person, can_manage
from searchapp.models import Item, Status
from searchapp.waveforms import WaveformDrawing, waveform_drawing

register = template.Library()


@register.filter
def managed_by(item: Item, person: Person) -> bool:
    return can_manage(person, item)


# A row asks for its item's status soon after the item changed, then less often the longer it
# stays unchanged, so a long queue of uploads does not send a request per row every second.
POLL_DELAY_RANGE_MS = {
    Status.PENDING: (1_000, 15_000),
    Status.PROCESSING: (1_000, 15_000),
    Status.WAITING: (5_000, 30_000),
}
POLL_DELAY_PER_UNCHANGED_SEC_MS = 100


@register.filter
def poll_delay_ms(item: Item) -> int | None:
    """How long an upload row waits before asking again; None once its item is done."""
    if item.status not in POLL_DELAY_RANGE_MS:
        return None
    shortest, longest = POLL_DELAY_RANGE_MS[Status(item.status)]
    unchanged_sec = (timezone.now() - item.updated_at).total_seconds()
    return int(min(max(unchanged_sec * POLL_DELAY_PER_UNCHANGED_SEC_MS, shortest), longest))


@register.simple_tag
def waveform(
    item: Item,
    start_sec: float | str | None = None,
    end_sec: float | str | None = None,
    segments: Sequence[float] | str | None = None,
) -> WaveformDrawing | None:
    """The drawing of an audio item's waveform, or None before it has one. A variable the
    including template did not pass arrives as "" (the template engine's missing value)."""
    if not item.waveform or not item.duration_sec:
        return None
    return waveform_drawing(
        levels=item.waveform,
        duration_sec=item.duration_sec,
        title=item.display_title,
        start_sec=_seconds(start_sec),
        end_sec=_seconds(end_sec),
        segment_starts=_segment_starts(segments),
    )


def _segment_starts(value: Sequence[float] | str | None) -> Sequence[float]:
    return () if value is None or isinstance(value, str) else value


def _seconds(value: float | str | None) -> float | None:
    return None if value is None or value == "" else float(value)
