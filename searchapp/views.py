from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from embeddings.conf import embeddings_settings
from embeddings.engine.registry import model_status


def home(request: HttpRequest) -> HttpResponse:
    state, detail = model_status()
    config = embeddings_settings()
    return render(
        request,
        "home.html",
        {
            "model_state": state,
            "model_detail": detail,
            "model_names": config.accepted_model_names,
            "embed_url": request.build_absolute_uri("/v1.3"),
        },
    )
