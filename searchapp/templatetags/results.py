from __future__ import annotations

from typing import Literal

from django import template

from searchapp.models import Item

register = template.Library()

# Bands of cosine similarity, as people read a match; the raw figure is in the card's tooltip.
STRONG_MATCH = 0.5
GOOD_MATCH = 0.3
# A thumbnail smaller than this in either direction is shown at its own size, not blown up.
SMALL_IMAGE_SIDE = 200
# Past this ratio of width to height (or height to width), cropping would hide most of it.
CROP_RATIO = 2.5

Quality = Literal["strong", "good", "weak", ""]
Fit = Literal["cover", "contain", "natural"]


@register.filter
def match_quality(score: float | None) -> Quality:
    if score is None:
        return ""
    if score >= STRONG_MATCH:
        return "strong"
    if score >= GOOD_MATCH:
        return "good"
    return "weak"


@register.filter
def excluding(excluded: tuple[int, ...], pk: int) -> str:
    """The `exclude` parameter that also marks item `pk` "less like this"."""
    return ",".join(str(item_id) for item_id in dict.fromkeys((*excluded, pk)))


@register.filter
def not_excluding(excluded: tuple[int, ...], pk: int) -> str | None:
    """The `exclude` parameter without item `pk` (None, out of the URL, when none is left)."""
    return ",".join(str(item_id) for item_id in excluded if item_id != pk) or None


@register.filter
def clock(seconds: float | None) -> str:
    """A time in a video as players show it: 0:07, 12:05, 1:02:09."""
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


@register.filter
def image_fit(item: Item) -> Fit:
    """How an image fills its fixed-ratio cell: cropped to fill it, whole, or at its own size."""
    if not item.width or not item.height:
        return "contain"
    if item.width < SMALL_IMAGE_SIDE or item.height < SMALL_IMAGE_SIDE:
        return "natural"
    if max(item.width / item.height, item.height / item.width) > CROP_RATIO:
        return "contain"
    return "cover"
