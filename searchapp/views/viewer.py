from __future__ import annotations

import math

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from searchapp.models import Modality, Status
from searchapp.search.search_model import search_model_key
from searchapp.search.selectors import item_segment_starts
from searchapp.views.pages import search_allowed, visible_item


@require_GET
def item_viewer(request: HttpRequest, pk: int) -> HttpResponse:
    """An item shown large, for the viewer over the result grid (static/js/viewer.js); `start`
    and `end` are the matching segment of a sound (marked on its waveform) or clip of a video
    (where its player starts)."""
    if not search_allowed(request):
        raise Http404("No such item.")
    item = visible_item(request, pk)
    with_segments = (
        item.modality == Modality.AUDIO and item.status == Status.READY and bool(item.waveform)
    )
    return render(
        request,
        "searchapp/_viewer.html",
        {
            "item": item,
            "start_sec": seconds_param(request.GET.get("start", "")),
            "end_sec": seconds_param(request.GET.get("end", "")),
            "segments": item_segment_starts(item=item, model_key=search_model_key())
            if with_segments
            else [],
        },
    )


def seconds_param(raw: str) -> float | None:
    """A time in a video or sound from a query parameter; None if it is not one."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
