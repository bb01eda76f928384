from __future__ import annotations

from django.urls import path

from embeddings.api import v2_views, views

app_name = "embeddings"

urlpatterns = [
    path("v1.2/embed", views.embed, name="embed-v1.2"),
    path("v1.3/embed", views.embed, name="embed-v1.3"),
    path("v1.3/embed-v2", v2_views.embed_v2, name="embed-v2"),
    path("openapi.json", views.openapi, name="openapi"),
]
