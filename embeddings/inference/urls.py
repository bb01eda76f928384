"""An inference node's routes (SERVER_ROLE=inference), also included in the Embed API's."""

from __future__ import annotations

from django.urls import path

from embeddings.inference.views import inference_call, inference_health

app_name = "inference"

urlpatterns = [
    path("inference/health", inference_health, name="health"),
    path("inference/v1/<str:operation>", inference_call, name="call"),
]
